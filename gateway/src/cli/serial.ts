/**
 * @module cli/serial
 * The serial side of the CLI (PROTOCOL.md §2 "Serial"): `--serial PATH=DEV[,DEV…]` specs
 * of the demo gateway, and `vitaltrail sim --serial PATH`, one simulated wearable on a
 * serial line (firmware-sim/src/serial-transport.ts) with optional fault injection,
 * keeping its seq/prev state in DATA/devices/<id>/state.json like the MQTT fleet.
 */
import { join } from 'node:path';
import { DEVICE_KEY_FILE, readPrivateKey } from '../../../anchor/src/kgc/index.js';
import { SimDevice } from '../../../firmware-sim/src/device.js';
import { createPatientModel, type Scenario } from '../../../firmware-sim/src/physiology.js';
import { SerialDeviceLink, type SerialFaults } from '../../../firmware-sim/src/serial-transport.js';
import { loadDeviceState, saveDeviceState } from '../../../firmware-sim/src/state.js';
import type { DataPaths } from '../io/ops/index.js';
import type { SerialPortConfig } from '../io/transport/index.js';
import { DEVICE_ID_PATTERN } from '../protocol/frame.js';
import { errorText, UsageError } from './errors.js';
import { stopSignal } from './inputs.js';

/** Fault kinds of `--faults`, each injected with this probability per message. */
export const SIM_FAULT_KINDS = ['noise', 'split', 'merge', 'drop'] as const;
export const SIM_FAULT_PROBABILITY = 0.1;

/**
 * Parses `PATH=DEV[,DEV…]` (a port and the devices bound to it).
 * @throws {UsageError} on a missing `=`, an empty path or an invalid device id.
 * @example parseSerialSpec('/dev/serial/by-id/usb-FTDI_FT232R-if00-port0=wr-0042')
 */
export function parseSerialSpec(spec: string): SerialPortConfig {
  const at = spec.lastIndexOf('=');
  if (at <= 0) throw new UsageError('--serial expects PATH=DEV[,DEV…]');
  const devices = spec.slice(at + 1).split(',');
  if (devices.some((d) => !DEVICE_ID_PATTERN.test(d)))
    throw new UsageError('--serial: device ids are 1-64 chars of [A-Za-z0-9._-]');
  return { path: spec.slice(0, at), devices };
}

/** Parses `--faults noise,split,merge,drop` into fault probabilities. */
export function parseFaults(list: string | undefined): SerialFaults {
  if (list === undefined || list === '') return {};
  const faults: SerialFaults = {};
  for (const k of list.split(',')) {
    if (!(SIM_FAULT_KINDS as readonly string[]).includes(k))
      throw new UsageError(`--faults takes a list of ${SIM_FAULT_KINDS.join(', ')}`);
    faults[k as (typeof SIM_FAULT_KINDS)[number]] = SIM_FAULT_PROBABILITY;
  }
  return faults;
}

export interface SerialSimParameters {
  paths: DataPaths;
  devId: string;
  path: string;
  rateHz: number;
  durationMs: number | undefined;
  scenario: Scenario;
  /** Physiology time per wall time (`--speed`), default 1. */
  speed?: number;
  faults: SerialFaults;
}

function formatSerialStats(d: SimDevice, link: SerialDeviceLink): string {
  const rejected = Object.entries(d.stats.rejected)
    .map(([c, n]) => `${c}=${n}`)
    .join(' ');
  const f = link.stats.faults;
  return (
    `made ${d.stats.made}, acked ${d.stats.acked}, in outbox ${d.unackedCount}, rejected ${rejected || '0'}, ` +
    `resent ${d.stats.resent}, line ${link.state}, faults noise=${f.noise} split=${f.split} merge=${f.merge} drop=${f.drop}`
  );
}

/**
 * Runs one simulated wearable on a serial line until the duration ends, SIGINT/SIGTERM, or
 * a frame cannot be made; on stop it waits up to 5 s for outstanding acks and saves its
 * state. A device error is told on stderr with its reason, and the run then exits 1.
 * @throws {UsageError} when the device is not enrolled.
 * @throws {Error} when the port does not open within 10 s.
 */
export async function runSerialSim(p: SerialSimParameters): Promise<void> {
  const dir = p.paths.deviceDir(p.devId);
  let key: ReturnType<typeof readPrivateKey>;
  try {
    key = readPrivateKey(join(dir, DEVICE_KEY_FILE));
  } catch (err) {
    throw new UsageError(
      `device ${p.devId} is not enrolled (or its key is unreadable): ${(err as Error).message}`,
    );
  }
  const statePath = join(dir, 'state.json');
  const device = new SimDevice({
    devId: p.devId,
    privateKey: key,
    model: createPatientModel({ seed: 1, scenario: p.scenario, speedup: p.speed ?? 1 }),
    state: loadDeviceState(statePath),
    reserve: (reservedThrough, state) => saveDeviceState(statePath, state, { reservedThrough }),
  });
  const link = await SerialDeviceLink.open({ path: p.path, device, faults: p.faults });
  process.stdout.write(`simulating ${p.devId} at ${p.rateHz} Hz on serial ${p.path}\n`);
  // A frame that cannot be made (its seqs cannot be reserved durably) ends the run like
  // Ctrl-C, told with its reason; the summary follows and the run exits 1.
  let failed = false;
  const fail = (err: unknown) => {
    failed = true;
    process.stderr.write(`device ${p.devId}: ${errorText(err)}\n`);
  };
  const report = setInterval(() => process.stdout.write(`${formatSerialStats(device, link)}\n`), 5000);
  const signal = stopSignal();
  if (p.durationMs !== undefined) setTimeout(signal.end, p.durationMs).unref();
  const tick = setInterval(() => {
    try {
      device.makeFrame();
    } catch (err) {
      clearInterval(tick);
      fail(err);
      signal.end();
      return;
    }
    link.send();
  }, 1000 / p.rateHz);
  await signal.done;
  clearInterval(tick);
  clearInterval(report);
  await link.flushed(5000).catch(() => undefined);
  await link.close();
  const clean = device.unackedCount === 0;
  try {
    saveDeviceState(statePath, device.state, {
      reservedThrough: clean ? device.state.seq : device.reservedThrough,
    });
  } catch (err) {
    fail(err);
  }
  process.stdout.write(`stopped: ${formatSerialStats(device, link)}\n`);
  if (failed) process.exitCode = 1;
}
