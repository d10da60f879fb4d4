/**
 * @module io/outbound/fhir-export
 * Gathers a device's or a patient's readings from the sealed store and builds the FHIR R4
 * Bundle of core/fhir/export. A patient's readings are those of every device bound to the
 * patient, within each binding's period (io/bindings); each reading names the patient
 * bound at its time. Leaves beyond the latest anchored checkpoint are exported without a
 * checkpoint entity and counted as `pendingAnchor`.
 */
import type { Deployment } from '../../../../anchor/src/ledger/index.js';
import type { RecipientSecret } from '../../core/envelope.js';
import { buildFhirBundle, type FhirCheckpoint, type FhirReading } from '../../core/fhir/export.js';
import { toHex } from '../../core/log-names.js';
import { VitalTrailError } from '../../protocol/errors.js';
import type { BindingBook, GatewayStore } from '../store/index.js';
import { readReadings, SealedReader } from '../store/index.js';

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

/**
 * @throws {VitalTrailError} `not_found` (unknown device or patient), `bad_request` (both or
 * neither selector), and the sealed store's `integrity_error` / `no_recipient_key`.
 */
export async function exportFhir(o: FhirExportOptions): Promise<{
  bundle: Record<string, unknown>;
  observations: number;
  pendingAnchor: number;
  shredded: number;
}> {
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
  const bundle = buildFhirBundle({ readings, log: o.log, checkpointFor });
  const entries = bundle.entry as { resource: { resourceType: string } }[];
  return {
    bundle,
    observations: entries.filter((e) => e.resource.resourceType === 'Observation').length,
    pendingAnchor: readings.filter((r) => checkpointFor(r.leafIndex) === null).length,
    shredded,
  };
}
