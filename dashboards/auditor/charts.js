// @ts-check
/**
 * @module dashboards/auditor/charts
 * The readings of a verification as small multiples (issue 17): one small SVG chart per
 * device (`#charts > figure[data-dev]`), the device's line of the chosen observation over
 * its own device-clock time, each point coloured by its entry's proof status (valid,
 * shredded, invalid), every gap of the verifier's report drawn as a shaded band between
 * the frames on both sides (the line breaks there), boundary frames ringed and an open end
 * marked by a dashed edge. At most `MAX_PANELS` panels; the device picker (`#chart-dev`)
 * shows one device large. Built with DOM APIs only; text from the files only as textContent.
 */
import { byId as $ } from '../common/dom.js';
import { isoTime, OPEN_END, OPEN_START, sideTime } from './completeness.js';

/** @typedef {import('./verifier-client.js').PageResult} PageResult */
/** @typedef {import('./verifier-client.js').SequenceGap} SequenceGap */
/** @typedef {PageResult['readings'][number]} Reading */

const SVG = 'http://www.w3.org/2000/svg';
/** Panels shown at most when no device is picked. */
export const MAX_PANELS = 24;

/** @param {string} code */
export const statusOf = (code) => (code === 'valid' || code === 'shredded' ? code : 'invalid');

/**
 * An SVG element with attributes.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [title] a tooltip (an SVG <title> child, also read by screen readers)
 * @returns {SVGElement}
 */
function svg(tag, attrs = {}, title) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG, tag));
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (title !== undefined) {
    const t = document.createElementNS(SVG, 'title');
    t.textContent = title;
    el.append(t);
  }
  return el;
}

/**
 * Every device of a result: those of the report's ranges and those with a reading, sorted.
 * @param {PageResult} last
 * @returns {string[]}
 */
export function devicesOf(last) {
  const devs = new Set(last.report.sequence.devices.map((d) => d.dev));
  for (const r of last.readings) devs.add(r.dev);
  return [...devs].sort();
}

/**
 * Fills the device picker: "all devices" and one option per device (the pick is kept when
 * the device is still there).
 * @param {PageResult} last
 */
export function fillDevices(last) {
  const select = /** @type {HTMLSelectElement} */ ($('chart-dev'));
  const previous = select.value;
  const all = document.createElement('option');
  all.value = '';
  all.textContent = `all devices (up to ${MAX_PANELS})`;
  const devs = devicesOf(last);
  select.replaceChildren(
    all,
    ...devs.map((d) => {
      const o = document.createElement('option');
      o.value = d;
      o.textContent = d;
      return o;
    }),
  );
  select.value = devs.includes(previous) ? previous : '';
}

/**
 * Whether the segment a→b crosses a gap's band (the open interval between its two frames).
 * @param {Reading} a
 * @param {Reading} b
 * @param {readonly (readonly [number, number])[]} bands device-clock [from, to] of each gap
 */
const crossesGap = (a, b, bands) => bands.some(([lo, hi]) => Math.max(a.ts, lo) < Math.min(b.ts, hi));

/**
 * One device's panel.
 * @param {PageResult} last
 * @param {string} dev
 * @param {string} key the observation
 * @param {boolean} large
 * @returns {HTMLElement}
 */
function panel(last, dev, key, large) {
  const [W, H] = large ? [960, 280] : [320, 140];
  const pad = { l: 38, r: 8, t: 12, b: 20 };
  /** Room between the plot's edges and its first and last frame (their boundary rings). */
  const inset = 10;
  const entries = last.report.entries;
  const range = last.report.sequence.devices.find((d) => d.dev === dev);
  const gaps = last.report.sequence.gaps.filter((g) => g.dev === dev);
  /** @param {Reading} p */
  const value = (p) => /** @type {number} */ (p.obs[key]);
  const pts = last.readings
    .filter((r) => r.dev === dev && r.obs[key] !== undefined)
    .sort((a, b) => a.ts - b.ts);

  const fig = document.createElement('figure');
  fig.className = large ? 'panel large' : 'panel';
  Object.assign(fig.dataset, { dev, points: String(pts.length), gaps: String(gaps.length) });
  const cap = document.createElement('figcaption');
  const ends = range ? `start ${range.start}, end ${range.end}` : 'no range';
  cap.textContent = `${dev}: ${pts.length} ${key} reading(s), ${gaps.length} gap(s); ${ends}`;
  const plot = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'plot' });
  plot.setAttribute('aria-label', cap.textContent);
  fig.append(cap, plot);
  plot.append(svg('rect', { x: 0, y: 0, width: W, height: H, class: 'bg' }));

  const xs = [
    ...pts.map((p) => p.ts),
    ...gaps.flatMap((g) => [g.before.ts, g.after.ts]).filter((t) => t !== undefined),
  ];
  if (xs.length === 0) {
    const none = svg('text', { x: W / 2, y: H / 2, class: 'none', 'text-anchor': 'middle' });
    none.textContent = `no ${key} reading`;
    plot.append(none);
    return fig;
  }
  const ys = pts.map(value);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = ys.length > 0 ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  /** @param {number} x */
  const sx = (x) => pad.l + inset + ((x - x0) / (x1 - x0 || 1)) * (W - pad.l - pad.r - 2 * inset);
  /** @param {number} y */
  const sy = (y) => H - pad.b - ((y - y0) / (y1 - y0 || 1)) * (H - pad.t - pad.b);

  /**
   * @param {number} x
   * @param {number} y
   * @param {string} text
   * @param {string} [anchor]
   */
  const label = (x, y, text, anchor = 'start') => {
    const t = svg('text', { x, y, class: 'axis', 'text-anchor': anchor });
    t.textContent = text;
    plot.append(t);
  };
  label(pad.l - 4, pad.t + 4, String(y1), 'end');
  label(pad.l - 4, H - pad.b, String(y0), 'end');
  label(pad.l, H - 4, isoTime(x0).replace(/\.\d+Z$/, 'Z'));
  label(W - pad.r, H - 4, isoTime(x1).replace(/\.\d+Z$/, 'Z'), 'end');

  // A shredded frame on a side of a gap has no time: its band reaches the panel's edge.
  /** @type {[number, number][]} */
  const bands = gaps.map((g) => [g.before.ts ?? x0, g.after.ts ?? x1]);
  for (const [i, g] of gaps.entries()) {
    const [lo, hi] = /** @type {[number, number]} */ (bands[i]);
    const [a, b] = [sx(lo), sx(hi)];
    const what =
      g.kind === 'missing'
        ? `seq ${g.fromSeq}${g.toSeq > g.fromSeq ? `-${g.toSeq}` : ''} missing`
        : `seq ${g.fromSeq} does not chain to the frame before`;
    const band = svg(
      'rect',
      {
        x: Math.min(a, b) - 1,
        y: pad.t,
        width: Math.max(Math.abs(b - a), 0) + 2,
        height: H - pad.t - pad.b,
        class: `gap-band gap-${g.kind}`,
        'data-from-seq': g.fromSeq,
        'data-to-seq': g.toSeq,
      },
      `gap: ${what} between seq ${g.before.seq} (${sideTime(g.before)}) and seq ${g.after.seq} (${sideTime(g.after)})`,
    );
    plot.append(band);
    if (Math.abs(b - a) > 44)
      label((a + b) / 2, pad.t + 12, g.kind === 'missing' ? 'missing' : 'no chain', 'middle');
  }
  if (range?.start === 'open') {
    plot.append(
      svg(
        'line',
        { x1: pad.l, x2: pad.l, y1: pad.t, y2: H - pad.b, class: 'open-end', 'data-end': 'start' },
        `start open: ${OPEN_START}`,
      ),
    );
  }
  if (range?.end === 'open') {
    const x = W - pad.r;
    plot.append(
      svg(
        'line',
        { x1: x, x2: x, y1: pad.t, y2: H - pad.b, class: 'open-end', 'data-end': 'end' },
        `end open: ${OPEN_END}`,
      ),
    );
  }

  let d = '';
  for (const [i, p] of pts.entries()) {
    const prev = pts[i - 1];
    const move = prev === undefined || crossesGap(prev, p, bands);
    d += `${move ? 'M' : 'L'}${sx(p.ts).toFixed(1)} ${sy(value(p)).toFixed(1)} `;
  }
  if (d !== '') plot.append(svg('path', { d: d.trim(), class: 'line' }));

  const r = large ? 4 : 2.8;
  for (const p of pts) {
    const e = entries[p.index];
    const status = statusOf(e?.code ?? 'malformed');
    const cx = sx(p.ts).toFixed(1);
    const cy = sy(value(p)).toFixed(1);
    if (e?.boundary) {
      plot.append(
        svg('circle', {
          cx,
          cy,
          r: r + 3,
          class: 'boundary',
          'data-boundary': e.boundary,
          'data-index': p.index,
        }),
      );
    }
    plot.append(
      svg(
        'circle',
        { cx, cy, r, class: `pt pt-${status}`, 'data-index': p.index, 'data-status': status },
        `entry ${p.index}${e?.seq !== undefined ? `, seq ${e.seq}` : ''}, ${isoTime(p.ts)}: ${key} ${value(p)} ` +
          `(${e?.code ?? 'unknown'}${e?.boundary ? `, boundary frame ${e.boundary} the range` : ''})`,
      ),
    );
  }
  return fig;
}

/**
 * Draws the panels of the chosen observation (`#obs`) for the picked device (`#chart-dev`),
 * or for the first `MAX_PANELS` devices with a note of how many more there are.
 * @param {PageResult | null} last
 */
export function drawPanels(last) {
  const box = $('charts');
  const more = $('charts-more');
  box.replaceChildren();
  more.hidden = true;
  if (!last) return;
  const key = /** @type {HTMLSelectElement} */ ($('obs')).value;
  const pick = /** @type {HTMLSelectElement} */ ($('chart-dev')).value;
  const devs = devicesOf(last);
  const shown = pick !== '' && devs.includes(pick) ? [pick] : devs.slice(0, MAX_PANELS);
  const large = shown.length === 1 && pick !== '';
  box.classList.toggle('single', large);
  box.append(...shown.map((dev) => panel(last, dev, key, large)));
  const rest = devs.length - shown.length;
  if (!large && rest > 0) {
    more.textContent = `${rest} more device${rest === 1 ? '' : 's'} — pick one`;
    more.dataset.more = String(rest);
    more.hidden = false;
  }
}
