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

/** @typedef {import('../../gateway/src/core/live-contract.js').ClockFormat} ClockFormat */

/**
 * A time of day on the given clock (config `ward.clock`): "14:05" on the 24-hour clock,
 * "2:05 PM" on the 12-hour clock, with seconds when asked.
 * @param {number | Date} t ms since epoch, or a Date
 * @param {ClockFormat} [clock] default 24-hour
 * @param {boolean} [seconds]
 * @returns {string}
 * @example
 * formatTimeOfDay(Date.UTC(2025, 0, 1, 14, 5), '24h'); // "14:05" (in UTC)
 */
export function formatTimeOfDay(t, clock = '24h', seconds = false) {
  return new Date(t).toLocaleTimeString([], {
    hour: clock === '12h' ? 'numeric' : '2-digit',
    minute: '2-digit',
    ...(seconds ? { second: '2-digit' } : {}),
    hourCycle: clock === '12h' ? 'h12' : 'h23',
  });
}

/**
 * A date and time of day on the given clock: "2 Dec 14:05".
 * @param {number} t ms since epoch
 * @param {ClockFormat} [clock] default 24-hour
 * @returns {string}
 */
export function formatDateTime(t, clock = '24h') {
  const d = new Date(t);
  return `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${formatTimeOfDay(d, clock)}`;
}

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
