/**
 * @module test/helpers/anchoring
 * What the anchoring suites share: a log grown by committed batches on a real store, an
 * in-memory ledger (anchor/ledger `createMemoryLedger`) on which a fresh account may anchor a
 * log, and a gateway account registered on a real anvil.
 */
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  ANVIL_DEV_KEY,
  createMemoryLedger,
  createViemRegistry,
  type Deployment,
  deployContracts,
  fundAccount,
  type Hex,
  type MemoryLedger,
} from '../../anchor/src/ledger/index.js';
import { hashLeaf } from '../../anchor/src/log/index.js';
import type { GatewayStore } from '../../gateway/src/io/store/store.js';

/** Appends `n` leaves (frames of device `dev`) to the log, as one committed batch. */
export function grow(store: GatewayStore, n: number, dev = 'wr-0001'): void {
  const frames = Array.from({ length: n }, () => {
    const seq = (store.getMeta(`seq-${dev}`) ? Number(store.getMeta(`seq-${dev}`)) : 0) + 1;
    store.setMeta(`seq-${dev}`, String(seq));
    const hash = new Uint8Array(32).fill(seq % 251);
    return { dev, seq, hash, prev: hash, ts: seq, leafHash: hashLeaf(Buffer.from(`${dev}/${seq}`)) };
  });
  store.commitBatch({ id: store.nextBatchId(), envelope: 'sealed', createdAt: Date.now(), frames });
}

/** A fresh in-memory chain on which a new account may anchor `logId`. */
export function memoryLedgerFor(logId: Hex): MemoryLedger {
  return createMemoryLedger({
    account: privateKeyToAccount(generatePrivateKey()).address,
    activeLogIds: [logId],
  });
}

/**
 * The contracts deployed on the anvil at `rpcUrl` and a fresh gateway account, funded and
 * registered for `logId`: what a gateway needs to anchor there.
 */
export async function registeredGateway(
  rpcUrl: string,
  logId: Hex,
): Promise<{ deployment: Deployment; gwKey: Hex }> {
  const deployment = await deployContracts({ rpcUrl, deployerKey: ANVIL_DEV_KEY });
  const registry = createViemRegistry({ rpcUrl, deployment, privateKey: ANVIL_DEV_KEY });
  const gwKey = generatePrivateKey();
  await fundAccount(rpcUrl, privateKeyToAccount(gwKey).address);
  await registry.registerGateway(privateKeyToAccount(gwKey).address, logId);
  return { deployment, gwKey };
}
