/**
 * @module cli/sim
 * `vitaltrail sim`: a fleet of simulated wearables (firmware-sim/) using the enrolment
 * bundles of a data directory (DATA/devices/<id>/device.key.pem) and keeping their
 * seq/prev state there, so a second run continues each device's hash chain.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readPrivateKey } from '../../../anchor/src/kgc/keys.js';
import { DEVICE_KEY_FILE } from '../../../anchor/src/kgc/kgc.js';
import { Fleet, type FleetDeviceSpec, type FleetStats } from '../../../firmware-sim/src/fleet.js';
import { SCENARIOS, type Scenario } from '../../../firmware-sim/src/physiology.js';
import { type DataPaths, dataPaths } from '../io/datadir.js';
import { enrolDevice } from '../io/enrol.js';
import { openStore } from '../io/store.js';
import { UsageError } from './errors.js';

export function deviceIds(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(4, '0')}`);
}

/** Fleet specs for enrolled devices; `scenarioOf` picks each patient's physiology. */
export function fleetSpecs(
  paths: DataPaths,
  ids: string[],
  scenarioOf: (id: string, i: number) => Scenario,
): FleetDeviceSpec[] {
  return ids.map((devId, i) => {
    const keyPath = join(paths.deviceDir(devId), DEVICE_KEY_FILE);
    if (!existsSync(keyPath)) {
      throw new UsageError(
        `device ${devId} is not enrolled in ${paths.root}: run \`vitaltrail kgc enroll --device ${devId}\` or pass --enroll`,
      );
    }
    return {
      devId,
      privateKey: readPrivateKey(keyPath),
      statePath: join(paths.deviceDir(devId), 'state.json'),
      scenario: scenarioOf(devId, i),
    };
  });
}

export function formatStats(s: FleetStats): string {
  const rejected = Object.entries(s.rejected)
    .map(([c, n]) => `${c}=${n}`)
    .join(' ');
  return `made ${s.made}, acked ${s.acked}, in outbox ${s.inOutbox}, rejected ${rejected || '0'}, PUBACK p50 ${s.latencyMs.p50.toFixed(1)} ms p99 ${s.latencyMs.p99.toFixed(1)} ms`;
}

export interface SimParameters {
  dataDir: string;
  devices: number;
  rateHz: number;
  url: string;
  prefix: string;
  durationMs: number | undefined;
  enroll: boolean;
  scenario: string;
}

export async function runSim(p: SimParameters): Promise<void> {
  if (!SCENARIOS.includes(p.scenario as Scenario))
    throw new UsageError(`--scenario must be one of ${SCENARIOS.join(', ')}`);
  const paths = dataPaths(p.dataDir);
  const ids = deviceIds(p.prefix, p.devices);
  if (p.enroll) {
    const store = openStore(paths.db);
    try {
      for (const id of ids) {
        if (!existsSync(join(paths.deviceDir(id), DEVICE_KEY_FILE))) await enrolDevice(paths, store, id);
      }
    } finally {
      store.close();
    }
  }
  const fleet = await Fleet.start({
    url: p.url,
    devices: fleetSpecs(paths, ids, () => p.scenario as Scenario),
    rateHz: p.rateHz,
    ...(p.durationMs !== undefined ? { durationMs: p.durationMs } : {}),
    onError: (devId) => process.stderr.write(`device ${devId} stopped after an error\n`),
  });
  process.stdout.write(`simulating ${ids.length} wearable(s) at ${p.rateHz} Hz against ${p.url}\n`);
  const timer = setInterval(() => process.stdout.write(`${formatStats(fleet.stats())}\n`), 5000);
  const stop = async () => {
    clearInterval(timer);
    const s = await fleet.stop();
    process.stdout.write(`stopped: ${formatStats(s)}\n`);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  await fleet.finished;
  await stop();
}
