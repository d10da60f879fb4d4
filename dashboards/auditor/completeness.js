// @ts-check
/**
 * @module dashboards/auditor/completeness
 * The completeness of each device's chain, as `vitaltrail verify` prints it (its `range`
 * and `gap` lines; README "Completeness"): a table of the gaps (`#gaps`: the missing seqs,
 * or a seq whose `prev` does not chain, with the frames on both sides) and a table of the
 * devices (`#devices`: frames, first and last frame, how each end is proven; an open end is
 * marked and explained), with the conflicts and the CLI's notes beside them. Text from the
 * files is only ever set as textContent.
 */
import { byId as $, appendCell } from '../common/dom.js';

/** @typedef {import('./verifier-client.js').VerifyReport} VerifyReport */
/** @typedef {import('./verifier-client.js').SequenceSide} SequenceSide */
/** @typedef {import('./verifier-client.js').DeviceRange} DeviceRange */

/** Why an open end is not proven (the CLI's wording, shortened). */
export const OPEN_START = 'no boundary frame before the range: an earlier frame may be withheld';
export const OPEN_END = 'no proof that no later frame exists (no boundary frame after the range)';

/**
 * A device-clock time as ISO 8601, or the number when it is no date.
 * @param {number | undefined} ms
 */
export function isoTime(ms) {
  if (ms === undefined) return '';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

/**
 * A frame's time: ISO 8601, or "shredded" for a shredded frame (its bytes, and so its time, are gone).
 * @param {SequenceSide} s
 */
export const sideTime = (s) => (s.ts === undefined ? (s.shredded ? 'shredded' : '') : isoTime(s.ts));

/**
 * Where a frame is in the bundle, for a cell's title (as the CLI says it).
 * @param {SequenceSide} s
 */
const where = (s) =>
  `entry ${s.index} (seq ${s.seq}, leaf ${s.leafIndex}, ${s.ts === undefined ? sideTime(s) : `ts ${isoTime(s.ts)}`})`;

/**
 * Appends a seq cell and a time cell for one frame (empty when there is none).
 * @param {HTMLTableRowElement} tr
 * @param {SequenceSide | undefined} s
 */
function appendSide(tr, s) {
  appendCell(tr, s?.seq, 'num');
  appendCell(tr, s === undefined ? '' : sideTime(s), 'time');
  if (s) {
    /** @type {HTMLElement} */ (tr.cells[tr.cells.length - 2]).title = where(s);
    /** @type {HTMLElement} */ (tr.cells[tr.cells.length - 1]).title = where(s);
  }
}

/**
 * A row that says the table is empty (no data-dev: not a gap or a device).
 * @param {HTMLTableSectionElement} body
 * @param {string} text
 */
function emptyRow(body, text) {
  const tr = document.createElement('tr');
  tr.className = 'empty';
  const td = document.createElement('td');
  td.colSpan = 99;
  td.textContent = text;
  tr.append(td);
  body.append(tr);
}

/**
 * An end's cell: its state, marked `open` and explained when not proven.
 * @param {HTMLTableRowElement} tr
 * @param {'genesis' | 'proven' | 'open'} state
 * @param {SequenceSide | undefined} boundary
 * @param {string} openWhy
 */
function appendEnd(tr, state, boundary, openWhy) {
  const td = document.createElement('td');
  td.className = `end end-${state}`;
  const b = document.createElement('b');
  b.textContent = state;
  const why = document.createElement('span');
  why.className = 'why';
  why.textContent =
    state === 'open'
      ? openWhy
      : state === 'genesis'
        ? "seq 1, the device's first frame"
        : boundary
          ? `by boundary seq ${boundary.seq} (${sideTime(boundary)})`
          : 'by a boundary frame';
  if (boundary) why.title = where(boundary);
  td.append(b, ' ', why);
  tr.append(td);
}

/** @param {VerifyReport} report */
function renderGaps(report) {
  const body = /** @type {HTMLTableElement} */ ($('gaps')).tBodies[0];
  if (!body) return;
  body.replaceChildren();
  for (const g of report.sequence.gaps) {
    const tr = document.createElement('tr');
    Object.assign(tr.dataset, {
      dev: g.dev,
      kind: g.kind,
      fromSeq: String(g.fromSeq),
      toSeq: String(g.toSeq),
      beforeSeq: String(g.before.seq),
      afterSeq: String(g.after.seq),
    });
    appendCell(tr, g.dev);
    appendCell(tr, g.kind === 'missing' ? 'missing' : 'prev mismatch', 'code');
    appendCell(
      tr,
      g.kind === 'missing'
        ? `${g.fromSeq}${g.toSeq > g.fromSeq ? `-${g.toSeq}` : ''}`
        : `none; seq ${g.fromSeq} does not chain to the frame before`,
    );
    appendSide(tr, g.before);
    appendSide(tr, g.after);
    body.append(tr);
  }
  if (report.sequence.gaps.length === 0) emptyRow(body, 'no gap: every device’s frames chain in the range');
}

/** @param {VerifyReport} report */
function renderDevices(report) {
  const body = /** @type {HTMLTableElement} */ ($('devices')).tBodies[0];
  if (!body) return;
  body.replaceChildren();
  for (const d of report.sequence.devices) {
    const tr = document.createElement('tr');
    Object.assign(tr.dataset, { dev: d.dev, frames: String(d.frames), start: d.start, end: d.end });
    if (d.start === 'open' || d.end === 'open') tr.classList.add('has-open');
    appendCell(tr, d.dev);
    appendCell(tr, d.frames, 'num');
    appendSide(tr, d.first);
    appendSide(tr, d.last);
    appendEnd(tr, d.start, d.before, OPEN_START);
    appendEnd(tr, d.end, d.after, OPEN_END);
    body.append(tr);
  }
  if (report.sequence.devices.length === 0) emptyRow(body, 'no device');
}

/**
 * The CLI's conflict lines and notes (registry not checked, no boundary frames).
 * @param {VerifyReport} report
 */
function renderNotes(report) {
  const seq = report.sequence;
  const lines = seq.conflicts.map(
    (c) => `CONFLICT ${c.dev} seq ${c.seq}: different frames in entries ${c.indexes.join(', ')}`,
  );
  if (seq.duplicates > 0) {
    lines.push(
      `${seq.duplicates} duplicate entr${seq.duplicates === 1 ? 'y' : 'ies'} counted once: ${seq.distinct} distinct readings`,
    );
  }
  if (!report.registryChecked) lines.push('note: the device registry was not checked (no registry events)');
  if (report.entries.length > 0 && !report.entries.some((e) => e.boundary !== undefined)) {
    lines.push(
      "note: the bundle carries no boundary frames (an older export, or a range up to each device's latest " +
        'anchored frame): only a range starting at seq 1 has a proven start, and no end is proven',
    );
  }
  const list = $('notes');
  list.replaceChildren(
    ...lines.map((text) => {
      const li = document.createElement('li');
      li.textContent = text;
      if (text.startsWith('CONFLICT')) li.className = 'bad';
      return li;
    }),
  );
  list.hidden = lines.length === 0;
}

/**
 * The gaps, the devices' ranges and the notes of a report.
 * @param {VerifyReport} report
 */
export function renderCompleteness(report) {
  renderGaps(report);
  renderDevices(report);
  renderNotes(report);
  const s = report.sequence;
  $('completeness-summary').textContent =
    `${s.devices.length} device(s), ${s.gaps.length} gap(s), ${s.openEnds} open end(s): ` +
    (s.complete ? 'every device’s chain is complete in the range' : 'the chain is not proven complete');
}
