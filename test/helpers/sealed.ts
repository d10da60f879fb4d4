/**
 * @module test/helpers/sealed
 * A real Ingest on a real SQLite store in a temp dir, with devices known by their public
 * keys (no KGC needed), for the sealed-store tests (issue 4).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { DeviceRecord } from '../../gateway/src/core/acceptance.js';
import type { Recipient, RecipientSecret } from '../../gateway/src/core/envelope.js';
import { Ingest, type IngestOptions } from '../../gateway/src/io/ingest/ingest.js';
import { type RetentionOptions, RetentionShredder } from '../../gateway/src/io/ingest/retention.js';
import { type FrameRead, SealedReader } from '../../gateway/src/io/store/sealed.js';
import { type FrameReadRow, type GatewayStore, openStore } from '../../gateway/src/io/store/store.js';
import { FrameChain } from './gateway.js';

export interface SealedRig {
  store: GatewayStore;
  ingest: Ingest;
  chains: Map<string, FrameChain>;
  /** Adds the device to the store's registry (so the query API knows it) and the lookup. */
  device(dev: string): FrameChain;
}

export function sealedRig(
  dir: string,
  recipients: IngestOptions['recipients'],
  extra: Partial<IngestOptions> = {},
): SealedRig {
  const store = openStore(join(dir, 'gateway', 'gateway.db'));
  const keys = new Map<string, DeviceRecord>();
  const chains = new Map<string, FrameChain>();
  const ingest = new Ingest({
    store,
    lookup: (dev) => keys.get(dev),
    recipients,
    policy: { retentionMs: 365 * 24 * 3600 * 1000 },
    ...extra,
  });
  return {
    store,
    ingest,
    chains,
    device(dev) {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      keys.set(dev, { dev, publicKey, status: 'active', notBefore: 0, notAfter: Number.MAX_SAFE_INTEGER });
      store.upsertDevice({ dev, certPem: 'test', spkiSha256: 'test', status: 'active' });
      const c = new FrameChain(dev, privateKey);
      chains.set(dev, c);
      return c;
    },
  };
}

/** A recipient key pair of either kind. */
export function recipientPair(
  kid: string,
  kind: 'ec' | 'rsa',
): { recipient: Recipient; privateKey: KeyObject } {
  const { publicKey, privateKey } =
    kind === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 3072 });
  return { recipient: { kid, publicKey }, privateKey };
}

/** Opens the frames of `rows` with a fresh reader (keys unwrapped once for this call). */
export function readFrames(
  store: GatewayStore,
  secrets: readonly RecipientSecret[],
  rows: readonly FrameReadRow[],
): Promise<FrameRead[]> {
  return new SealedReader(store, secrets).read(rows);
}

/** A clock a test moves by hand (ms since the epoch). */
export interface TestClock {
  now: number;
}

/**
 * A sealed rig on a clock the test moves, its data-key windows `windowMs` long, with `frames`
 * frames of device `dev` sealed in each of `windows` windows; the clock is left at the end of
 * the last one (io/ingest/retention's tests).
 */
export async function windowedRig(
  dir: string,
  recipient: Recipient,
  o: { dev: string; windows: number; frames: number; windowMs: number; start: number },
): Promise<{ rig: SealedRig; device: FrameChain; clock: TestClock }> {
  const clock: TestClock = { now: o.start };
  const rig = sealedRig(dir, [recipient], { now: () => clock.now, dataKeys: { windowMs: o.windowMs } });
  const device = rig.device(o.dev);
  for (let w = 0; w < o.windows; w++) {
    for (let i = 0; i < o.frames; i++) await rig.ingest.submit(device.next({ ts: clock.now }), o.dev);
    clock.now += o.windowMs;
  }
  return { rig, device, clock };
}

/** The shredder of a running gateway on `rig`, on `clock`: retention one window, turns every 20 ms. */
export function shredderOf(
  rig: SealedRig,
  clock: TestClock,
  windowMs: number,
  extra: Partial<RetentionOptions> = {},
): RetentionShredder {
  return new RetentionShredder({
    ingest: rig.ingest,
    store: rig.store,
    retentionMs: windowMs,
    windowMs,
    intervalMs: 20,
    now: () => clock.now,
    ...extra,
  });
}
