/**
 * @module io/outbound/fhir-export
 * Gathers a device's or a patient's readings from the sealed store and builds the FHIR R4
 * Bundle of core/fhir/export. A patient's readings are those of every device bound to the
 * patient, within each binding's period (io/bindings); each reading names the patient
 * bound at its time. Leaves beyond the latest anchored checkpoint are exported without a
 * checkpoint entity and counted as `pendingAnchor`. The Bundle is handed over as text made
 * piece by piece (core/fhir/export `fhirBundleParts`): a 6-hour export of one 1 Hz device is
 * ~180 MB of JSON, which neither the gateway's heap nor its event loop should hold at once.
 * The readings are read a day of device time at a time, in that order (by seq within the
 * day). The first pass counts them; up to `KEPT_READINGS` are kept for the text, and a
 * longer export (`vitaltrail export-fhir` of a month) is read again, day by day, as its text
 * is taken: before, every reading was held at once (a week of one 1 Hz device, 604,800
 * readings, took a read's process to ~1 GB; a month would not fit in the heap).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Deployment } from '../../../../anchor/src/ledger/index.js';
import type { RecipientSecret } from '../../core/envelope.js';
import { type FhirCheckpoint, type FhirReading, fhirBundleParts } from '../../core/fhir/export.js';
import { vitalSignCount } from '../../core/fhir/observations.js';
import { toHex } from '../../core/log-names.js';
import { VitalTrailError } from '../../protocol/errors.js';
import { readReadings } from '../queries/index.js';
import type { BindingBook, GatewayStore } from '../store/index.js';
import { SealedReader } from '../store/index.js';

export interface FhirExportOptions {
  store: GatewayStore;
  bindings: BindingBook;
  secrets: readonly RecipientSecret[];
  log: { origin: string; logId: string };
  deployment?: Pick<Deployment, 'chainId' | 'anchors'> | null;
  /** Exactly one of `dev` and `patientId`. */
  dev?: string;
  patientId?: string;
  from: number;
  to: number;
  /** Readings kept from the counting pass for the text (default `KEPT_READINGS`); beyond, read again. */
  keptReadings?: number;
}

/** Device time read at once by an export. */
const EXPORT_WINDOW_MS = 86_400_000;
/** Readings kept from the counting pass for the text; a longer export is read again. */
export const KEPT_READINGS = 100_000;

/** An export, read and counted: its Bundle not yet made. */
export interface FhirExport {
  /** Observations the Bundle holds. */
  observations: number;
  /** Readings beyond the latest anchored checkpoint (no checkpoint in their Provenance). */
  pendingAnchor: number;
  /** Readings left out because their data key was shredded. */
  shredded: number;
  /**
   * The Bundle's JSON text in pieces, made as they are taken (compact, or indented by 2);
   * joined, `JSON.stringify(bundle, null, indent)`. Each call starts it anew (and reads the
   * readings again when there were more than `KEPT_READINGS`).
   */
  text(indent?: 0 | 2): AsyncGenerator<string>;
}

/** One device's part of an export: its range, and the patient when the export is a patient's. */
type Part = { dev: string; from: number; to: number; patientId?: string };

/**
 * @throws {VitalTrailError} `not_found` (unknown device or patient), `bad_request` (both or
 * neither selector), and the sealed store's `integrity_error` / `no_recipient_key`.
 */
export async function exportFhir(o: FhirExportOptions): Promise<FhirExport> {
  if ((o.dev === undefined) === (o.patientId === undefined)) {
    throw new VitalTrailError('bad_request', 'name exactly one of a device and a patient');
  }
  const parts: Part[] = [];
  if (o.dev !== undefined) {
    if (!o.store.getDevice(o.dev)) throw new VitalTrailError('not_found', 'no such device in this gateway');
    parts.push({ dev: o.dev, from: o.from, to: o.to });
  } else {
    const periods = await o.bindings.devicesOf(o.patientId as string);
    if (periods.length === 0)
      throw new VitalTrailError('not_found', 'no device was ever bound to this patient');
    for (const p of periods) {
      const from = Math.max(o.from, p.from);
      const to = Math.min(o.to, p.to === null ? Number.MAX_SAFE_INTEGER : p.to - 1);
      if (from <= to) parts.push({ dev: p.dev, from, to, patientId: o.patientId as string });
    }
  }
  const cp = o.store.latestAnchored();
  const anchored: FhirCheckpoint | null =
    cp && cp.txHash !== null && cp.blockNumber !== null
      ? {
          treeSize: cp.treeSize,
          rootHash: toHex(cp.root),
          txHash: cp.txHash,
          blockNumber: cp.blockNumber,
          chainId: o.deployment?.chainId ?? 0,
          contract: o.deployment?.anchors ?? '',
        }
      : null;
  const checkpointFor = (leaf: number) => (anchored && leaf < anchored.treeSize ? anchored : null);

  // The counting pass: every reading once, a day at a time; the first KEPT_READINGS kept.
  const count = { observations: 0, pendingAnchor: 0, shredded: 0, readings: 0, newest: 0 };
  let kept: FhirReading[] | null = [];
  for await (const day of readingsOf(o, parts, (n) => (count.shredded += n))) {
    for (const r of day) {
      count.observations += vitalSignCount(r.obs);
      if (checkpointFor(r.leafIndex) === null) count.pendingAnchor += 1;
      count.newest = Math.max(count.newest, r.ts);
    }
    count.readings += day.length;
    if (kept && count.readings <= (o.keptReadings ?? KEPT_READINGS)) for (const r of day) kept.push(r);
    else kept = null;
  }
  const held = kept;
  const params = { readings: [], now: count.newest, log: o.log, checkpointFor };
  return {
    observations: count.observations,
    pendingAnchor: count.pendingAnchor,
    shredded: count.shredded,
    async *text(indent = 0) {
      const b = fhirBundleParts(params, indent);
      yield b.head;
      const days = held ? [held] : readingsOf(o, parts, () => {});
      for await (const day of days)
        for (const r of day) {
          const piece = b.piece(r);
          if (piece !== '') yield piece;
        }
      yield b.tail();
    },
  };
}

/**
 * The readings of `parts`, a day of device time at a time, each named with the patient
 * bound at its time (a device's export looks its bindings up: a turn of the event loop
 * every 4,096); `shredded` is told of the frames left out.
 */
async function* readingsOf(
  o: FhirExportOptions,
  parts: readonly Part[],
  shredded: (n: number) => void,
): AsyncGenerator<FhirReading[]> {
  const reader = new SealedReader(o.store, o.secrets);
  let looked = 0;
  for (const part of parts)
    for (const [start, end] of spansWithFrames(o.store, part.dev, part.from, part.to)) {
      const got = await readReadings(o.store, reader, part.dev, start, end);
      shredded(got.shredded);
      const day: FhirReading[] = [];
      for (const r of got.readings) {
        if (part.patientId === undefined && ++looked % 4096 === 0) await nextTurn();
        const pid = part.patientId ?? (await o.bindings.at(part.dev, r.ts))?.patientId;
        day.push({
          dev: part.dev,
          seq: r.seq,
          ts: r.ts,
          obs: r.obs,
          leafIndex: r.leafIndex,
          ...(pid !== undefined ? { patientId: pid } : {}),
        });
      }
      if (day.length > 0) yield day;
    }
}

/**
 * The spans of at most a day that hold frames of `dev` within [from, to] (both ends
 * inclusive), in order: the range halved while it is longer than a day, a half without
 * frames left out (one count of the index each), so the CLI's default range, from the
 * epoch on, costs a few dozen counts, not a query for each of 20,000 empty days.
 */
function* spansWithFrames(
  store: GatewayStore,
  dev: string,
  from: number,
  to: number,
): Generator<[number, number]> {
  if (from > to || store.countFrames(dev, from, to + 1) === 0) return;
  if (to - from < EXPORT_WINDOW_MS) {
    yield [from, to];
    return;
  }
  const mid = from + Math.ceil((to - from + 1) / 2 / EXPORT_WINDOW_MS) * EXPORT_WINDOW_MS - 1;
  yield* spansWithFrames(store, dev, from, mid);
  yield* spansWithFrames(store, dev, mid + 1, to);
}
