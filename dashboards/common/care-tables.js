// @ts-check
/**
 * @module dashboards/common/care-tables
 * The tables the patient portal and the doctor's page share (issue 18): a patient's latest
 * readings (`GET /api/care/patients/:p/readings`, newest first, PROTOCOL.md §1 units) and the
 * access log (`GET /api/care/access`: when, who, role, what, range, basis; break-glass rows
 * marked and their reason shown, consent rows naming the consent). Text only (textContent).
 */
import { basisText, rangeText, shortId } from './care-format.js';
import { appendCell, tableRow } from './dom.js';
import { formatDateTime, show, showTemp } from './format.js';

/** @typedef {import('./care-api.js').CareReading} CareReading */
/** @typedef {import('./care-api.js').AccessEntry} AccessEntry */

/**
 * Fills `tbody` with the newest `max` readings.
 * @param {HTMLTableSectionElement} tbody
 * @param {CareReading[]} readings oldest first (as the gateway answers)
 * @param {number} [max]
 */
export function fillReadings(tbody, readings, max = 20) {
  const rows = readings.slice(-max).reverse();
  tbody.replaceChildren(
    ...rows.map((r) => {
      const tr = tableRow([
        formatDateTime(r.ts),
        r.dev,
        show(r.obs.hr),
        show(r.obs.spo2),
        show(r.obs.rr),
        showTemp(r.obs.temp),
        r.obs.sbp !== undefined ? `${show(r.obs.sbp)}/${show(r.obs.dbp)}` : '—',
      ]);
      tr.dataset.seq = String(r.seq);
      return tr;
    }),
  );
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    appendCell(tr, 'No readings in this range.', 'empty');
    /** @type {HTMLTableCellElement} */ (tr.firstChild).colSpan = 7;
    tbody.append(tr);
  }
}

/**
 * Fills `tbody` with access-log entries; `names` maps an actor (e.g. a clinician id) to a
 * name the reader knows.
 * @param {HTMLTableSectionElement} tbody
 * @param {AccessEntry[]} entries newest first
 * @param {ReadonlyMap<string, string>} [names]
 */
export function fillAccess(tbody, entries, names = new Map()) {
  tbody.replaceChildren(
    ...entries.map((e) => {
      const who = names.get(e.actor.toLowerCase()) ?? (e.actor.startsWith('0x') ? shortId(e.actor) : e.actor);
      const tr = tableRow([
        formatDateTime(e.at),
        who,
        e.role,
        e.dev ? `${e.action} (${e.dev})` : e.action,
        rangeText(e.dataFrom, e.dataUntil),
        basisText(e.basis),
      ]);
      tr.dataset.basis = e.basis.type;
      if (e.basis.type === 'break_glass') tr.className = 'break-glass';
      if (e.basis.type === 'consent') tr.dataset.consent = e.basis.consentId;
      /** @type {HTMLElement} */ (tr.children[1]).title = e.actor;
      return tr;
    }),
  );
  if (entries.length === 0) {
    const tr = document.createElement('tr');
    appendCell(tr, 'No accesses recorded yet.', 'empty');
    /** @type {HTMLTableCellElement} */ (tr.firstChild).colSpan = 6;
    tbody.append(tr);
  }
}
