/**
 * @module io/outbound/fhir-export
 * Gathers a device's or a patient's readings from the sealed store and builds the FHIR R4
 * Bundle of core/fhir/export. A patient's readings are those of every device bound to the
 * patient, within each binding's period (io/bindings); each reading names the patient
 * bound at its time. Leaves beyond the latest anchored checkpoint are exported without a
 * checkpoint entity and counted as `pendingAnchor`. The Bundle is handed over as text made
 * piece by piece (core/fhir/export `fhirBundleText`): a 6-hour export of one 1 Hz device is
 * ~180 MB of JSON, which neither the gateway's heap nor its event loop should hold at once.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Deployment } from '../../../../anchor/src/ledger/index.js';
import type { RecipientSecret } from '../../core/envelope.js';
import { type FhirCheckpoint, type FhirReading, fhirBundleText } from '../../core/fhir/export.js';
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
}

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
   * joined, `JSON.stringify(bundle, null, indent)`. Each call starts it anew.
   */
  text(indent?: 0 | 2): Generator<string>;
}

/**
 * @throws {VitalTrailError} `not_found` (unknown device or patient), `bad_request` (both or
 * neither selector), and the sealed store's `integrity_error` / `no_recipient_key`.
 */
export async function exportFhir(o: FhirExportOptions): Promise<FhirExport> {
  if ((o.dev === undefined) === (o.patientId === undefined)) {
    throw new VitalTrailError('bad_request', 'name exactly one of a device and a patient');
  }
  const reader = new SealedReader(o.store, o.secrets);
  const readings: FhirReading[] = [];
  let shredded = 0;
  const collect = async (dev: string, from: number, to: number, patientId?: string) => {
    const got = await readReadings(o.store, reader, dev, from, to);
    shredded += got.shredded;
    for (const r of got.readings) {
      // A device's readings each look up their binding: a turn of the event loop now and then.
      if (patientId === undefined && readings.length % 4096 === 4095) await nextTurn();
      const pid = patientId ?? (await o.bindings.at(dev, r.ts))?.patientId;
      readings.push({
        dev,
        seq: r.seq,
        ts: r.ts,
        obs: r.obs,
        leafIndex: r.leafIndex,
        ...(pid !== undefined ? { patientId: pid } : {}),
      });
    }
  };
  if (o.dev !== undefined) {
    if (!o.store.getDevice(o.dev)) throw new VitalTrailError('not_found', 'no such device in this gateway');
    await collect(o.dev, o.from, o.to);
  } else {
    const periods = await o.bindings.devicesOf(o.patientId as string);
    if (periods.length === 0)
      throw new VitalTrailError('not_found', 'no device was ever bound to this patient');
    for (const p of periods) {
      const from = Math.max(o.from, p.from);
      const to = Math.min(o.to, p.to === null ? Number.MAX_SAFE_INTEGER : p.to - 1);
      if (from <= to) await collect(p.dev, from, to, o.patientId);
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
  return {
    observations: readings.reduce((n, r) => n + vitalSignCount(r.obs), 0),
    pendingAnchor: readings.filter((r) => checkpointFor(r.leafIndex) === null).length,
    shredded,
    text: (indent = 0) => fhirBundleText({ readings, log: o.log, checkpointFor }, indent),
  };
}
