/**
 * A gateway on `paths` serving only its mutual-TLS listener (any free port), with a KGC
 * gateway certificate naming gw-test.local besides localhost, 127.0.0.1 and ::1.
 */
export async function startMtlsGateway(paths: DataPaths): Promise<RunningGateway> {
  const g = await issueGatewayCertificate(paths.kgcDir, join(paths.gatewayDir, 'tls'), {
    names: ['gw-test.local'],
  });
  return (await startGateway({
    dataDir: paths.root,
    mqtts: { port: 0, certPath: g.certPath, keyPath: g.keyPath },
    mqttPlain: false,
    logger: silentLogger,
  })) as RunningGateway;
}

/**
 * @module test/helpers/gateway
 * A prepared data directory (KGC root, an EC recipient, enrolled devices) and helpers to
 * sign frames as a device would, for tests that run the real gateway.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { initKgc, issueGatewayCertificate, readPrivateKey } from '../../anchor/src/kgc/index.js';
import { createViemRegistry } from '../../anchor/src/ledger/index.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import { checkpointOrigin, logIdOf } from '../../gateway/src/core/log-names.js';
import { type EmbeddedChain, startEmbeddedChain } from '../../gateway/src/io/anchoring/chain.js';
import { enrolDevice, syncRegistry } from '../../gateway/src/io/identity/enrol.js';
import { type DataPaths, dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { createRecipientKey } from '../../gateway/src/io/store/recipients.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import {
  type FrameBody,
  frameHash,
  type Observations,
  signFrame,
  ZERO_HASH,
} from '../../gateway/src/protocol/frame.js';

export async function prepareDataDir(dir: string, devices: string[]): Promise<DataPaths> {
  const paths = dataPaths(dir);
  await initKgc(paths.kgcDir);
  createRecipientKey(paths.recipientsDir, 'records', 'ec');
  const store = openStore(paths.db);
  try {
    for (const d of devices) await enrolDevice(paths, store, d);
  } finally {
    store.close();
  }
  return paths;
}

/**
 * A prepared data directory plus its embedded chain (contracts deployed, gateway gw-1
 * registered) with the enrolled devices registered on chain, as the demo does; stop
 * `chain.anvil` when done.
 */
export async function prepareAnchoredDataDir(
  dir: string,
  devices: string[],
): Promise<{ paths: DataPaths; chain: EmbeddedChain }> {
  const paths = await prepareDataDir(dir, devices);
  const chain = await startEmbeddedChain(paths, logIdOf(checkpointOrigin('gw-1')));
  await registerDevicesOnChain(paths, chain);
  return { paths, chain };
}

/** Registers the data dir's enrolled devices in the chain's registry (`kgc sync-registry`). */
export async function registerDevicesOnChain(paths: DataPaths, chain: EmbeddedChain): Promise<void> {
  const store = openStore(paths.db);
  try {
    await syncRegistry(store, {
      client: createViemRegistry({
        rpcUrl: chain.rpcUrl,
        deployment: chain.deployment,
        privateKey: chain.kgcKey,
      }),
      ref: chain.deployment,
    });
  } finally {
    store.close();
  }
}

export function deviceKey(paths: DataPaths, dev: string): KeyObject {
  return readPrivateKey(join(paths.deviceDir(dev), 'device.key.pem'));
}

export function strangerKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/** Signs a chain of frames as a device would: seq from 1, prev = hash of the previous frame. */
export class FrameChain {
  seq = 0;
  prev: Uint8Array = ZERO_HASH;
  constructor(
    readonly dev: string,
    readonly key: KeyObject,
  ) {}

  body(over: Partial<FrameBody> = {}, obs: Observations = { hr: 72, spo2: 98 }): FrameBody {
    return { v: 1, dev: this.dev, seq: this.seq + 1, ts: Date.now(), prev: this.prev, obs, ...over };
  }

  /** Signs the next frame and advances the chain. */
  next(over: Partial<FrameBody> = {}, obs?: Observations): Uint8Array {
    const bytes = signFrame(this.body(over, obs), this.key);
    this.seq += 1;
    this.prev = frameHash(bytes);
    return bytes;
  }
}
