// @ts-check
/**
 * @module dashboards/common/format
 * Formatting of values for display (PROTOCOL.md §1 units).
 */

/**
 * An integer observation, or an em dash when absent.
 * @param {unknown} v
 * @returns {string}
 */
export const show = (v) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : '—');

/**
 * A temperature in 0.01 °C (PROTOCOL.md §1) as °C with one decimal, or an em dash.
 * @param {unknown} v
 * @returns {string}
 */
export const showTemp = (v) => (typeof v === 'number' ? (v / 100).toFixed(1) : '—');

/**
 * "12 s ago", "3 min ago", "5 h ago", "2 d ago".
 * @param {number} ms
 * @returns {string}
 */
export function formatAge(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/**
 * What a failure says to the user: `code: reason` for a coded error, else its message.
 * @param {unknown} err
 * @returns {string | undefined}
 */
export function errorText(err) {
  const e = /** @type {{code?: unknown, reason?: unknown, message?: unknown} | null | undefined} */ (err);
  return e?.code ? `${e.code}: ${e.reason}` : /** @type {string | undefined} */ (e?.message);
}
