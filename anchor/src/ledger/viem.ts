/**
 * @module anchor/ledger/viem
 * `LedgerClient` and `RegistryClient` over any EVM JSON-RPC endpoint with viem 2.57.1
 * (PROTOCOL.md §4): anvil in the embedded setup, a permissioned QBFT network in production.
 *
 * Writes are checked with `eth_estimateGas` before a nonce is taken, so a refused anchor (the
 * contract's custom errors, decoded) never leaves a nonce gap; each client owns its nonce manager
 * so concurrent sends from one account are pipelined in call order. viem's errors become
 * `LedgerError`s in ./viem-errors (kept only as `cause`: they interpolate arguments and URLs).
 */
import {
  type Abi,
  BlockNotFoundError,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type PublicClient,
  parseAbiItem,
  parseEventLogs,
  type TransactionReceipt,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createNonceManager, jsonRpc } from 'viem/nonce';
import { ANCHORED_EVENT, ANCHORS_ABI, REGISTRY_ABI } from '../contracts/index.js';
import {
  type AnchorParameters,
  type AnchorRecord,
  assertAddress,
  assertAnchorParameters,
  assertBytes32,
  assertDeviceId,
  assertSafeUint,
  type Deployment,
  type DeviceStatus,
  type Hex,
  LEDGER_ERROR_CODES,
  type LedgerClient,
  LedgerError,
  type RegistryClient,
  toSafeNumber,
} from './types.js';
import { toLedgerError } from './viem-errors.js';

/** The viem chain object for a deployment (so signing needs no `eth_chainId` round trip). */
function chainFor(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    id: chainId,
    name: `vitaltrail-${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

/**
 * A promise that rejects with `ledger_unavailable` when `giveUp` is called, and never
 * otherwise (no unhandled rejection: it is always observed).
 */
function abandonment(): { promise: Promise<never>; giveUp: () => void } {
  let giveUp = (): void => {};
  const promise = new Promise<never>((_, reject) => {
    giveUp = () =>
      reject(new LedgerError('ledger_unavailable', 'the node restarted while the transaction was pending'));
  });
  promise.catch(() => {});
  return { promise, giveUp };
}

/** Options shared by every client of this module. */
const TRANSPORT = { retryCount: 2, timeout: 10_000 } as const;
const POLLING_MS = 250;
const RECEIPT_TIMEOUT_MS = 60_000;

/**
 * `fetch` whose requests also end when `signal` aborts: one in flight is aborted, a later one
 * fails at once (so viem's retries end quickly too). viem's own timeout signal still applies.
 * No `AbortSignal.any`: a signal it returns can be garbage-collected while the request runs.
 */
function abortableFetch(signal: AbortSignal): typeof fetch {
  return async (input, init) => {
    signal.throwIfAborted();
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal.reason);
    const own = init?.signal ?? null;
    const onOwnAbort = () => ac.abort(own?.reason);
    if (own?.aborted) ac.abort(own.reason);
    own?.addEventListener('abort', onOwnAbort, { once: true });
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await fetch(input, { ...init, signal: ac.signal });
    } finally {
      signal.removeEventListener('abort', onAbort);
      own?.removeEventListener('abort', onOwnAbort);
    }
  };
}

/** The transport options for `rpcUrl`; with `signal`, every call ends when it aborts. */
function transportOptions(signal: AbortSignal | undefined) {
  return signal ? { ...TRANSPORT, fetchFn: abortableFetch(signal) } : TRANSPORT;
}

/**
 * A read-only client for `rpcUrl`.
 * @param signal when it aborts, the calls in flight are aborted and later ones fail at once
 *   (a gateway stopping with a chain that does not answer).
 */
export function createReadClient(rpcUrl: string, chainId?: number, signal?: AbortSignal): PublicClient {
  if (typeof rpcUrl !== 'string' || !/^https?:\/\//.test(rpcUrl))
    throw new TypeError('rpcUrl must be an http(s) URL');
  return createPublicClient({
    ...(chainId === undefined ? {} : { chain: chainFor(chainId, rpcUrl) }),
    transport: http(rpcUrl, transportOptions(signal)),
    pollingInterval: POLLING_MS,
  }) as PublicClient;
}

function checkDeployment(d: Deployment): void {
  if (typeof d !== 'object' || d === null) throw new TypeError('deployment must be an object');
  assertSafeUint('deployment.chainId', d.chainId, 1);
  assertAddress('deployment.registry', d.registry);
  assertAddress('deployment.anchors', d.anchors);
  assertSafeUint('deployment.deployBlock', d.deployBlock);
}

interface Sender {
  readonly account: Hex;
  readonly reader: PublicClient;
  /** Resolves once the node's chain id was seen to equal the deployment's (checked once). */
  ensureChain(action: string): Promise<void>;
  /**
   * Forgets the cached nonce and chain id check (the node restarted, maybe from older state)
   * and gives up on the transactions in flight: each `send` still waiting rejects at once
   * with `ledger_unavailable` (a transaction the old node took may never be mined on the new
   * one; the caller reconciles and resends, which the strictly growing tree sizes make safe).
   */
  resync(): void;
  /** Estimate (decodes refusals, takes no nonce), send, wait for the receipt, check its status. */
  send(
    action: string,
    address: Hex,
    abi: Abi,
    functionName: string,
    args: readonly unknown[],
  ): Promise<TransactionReceipt>;
}

/** The parameters of `createViemLedger` and `createViemRegistry`. */
export interface ViemClientParameters {
  rpcUrl: string;
  deployment: Deployment;
  privateKey: Hex;
  confirmations?: number;
  /** When it aborts, the client's calls in flight are aborted and later ones fail at once. */
  signal?: AbortSignal;
}

/** Checks the deployment and the key, then builds the client's sender. */
function createSender(p: ViemClientParameters): Sender {
  checkDeployment(p.deployment);
  const { chainId } = p.deployment;
  assertBytes32('privateKey', p.privateKey, true);
  // Blocks to wait after the including one: 0 for BFT-final chains (QBFT); viem counts the including block as 1.
  const confirmations = p.confirmations ?? 0;
  assertSafeUint('confirmations', confirmations, 0);
  const chain = chainFor(chainId, p.rpcUrl);
  const nonceManager = createNonceManager({ source: jsonRpc() }); // one per client: a reset chain cannot poison others
  let account: ReturnType<typeof privateKeyToAccount>;
  try {
    account = privateKeyToAccount(p.privateKey, { nonceManager });
  } catch {
    throw new RangeError('privateKey is not a valid secp256k1 key');
  }
  const reader = createReadClient(p.rpcUrl, chainId, p.signal);
  const wallet = createWalletClient({
    account,
    chain,
    transport: http(p.rpcUrl, transportOptions(p.signal)),
    pollingInterval: POLLING_MS,
  });
  let chainChecked: Promise<void> | undefined;
  let queue: Promise<void> = Promise.resolve();
  /** Rejects when `resync` gives up on what is in flight; a new one for each `resync`. */
  let givenUp = abandonment();

  const ensureChain = (action: string): Promise<void> => {
    chainChecked ??= (async () => {
      let id: number;
      try {
        id = await reader.getChainId();
      } catch (err) {
        throw toLedgerError(err, action, 'ledger_unavailable');
      }
      if (id !== chainId)
        throw new LedgerError('contract_missing', `${action}: the node serves another chain id`);
    })().catch((err: unknown) => {
      chainChecked = undefined; // check again next time
      throw err;
    });
    return chainChecked;
  };

  const send: Sender['send'] = async (action, address, abi, functionName, args) => {
    await ensureChain(action);
    const call = { address, abi, functionName, args, account } as const;
    // Estimate and send one call at a time, so nonces follow call order; receipts are awaited
    // in parallel (pipelining).
    const abandoned = givenUp.promise;
    const sent = queue.then(async (): Promise<Hex> => {
      try {
        const gas = await reader.estimateContractGas(call);
        return await wallet.writeContract({ ...call, chain, gas: (gas * 6n) / 5n });
      } catch (err) {
        throw toLedgerError(err, action);
      }
    });
    // A call hanging on a node that went away does not hold the next ones after a resync.
    queue = Promise.race([sent, abandoned]).then(
      () => undefined,
      () => undefined,
    );
    const hash = await Promise.race([sent, abandoned]);
    let receipt: TransactionReceipt;
    try {
      receipt = await Promise.race([
        reader.waitForTransactionReceipt({
          hash,
          confirmations: confirmations + 1,
          timeout: RECEIPT_TIMEOUT_MS + confirmations * 15_000,
        }),
        abandoned,
      ]);
    } catch (err) {
      // The tx may sit behind a nonce the node never saw (its chain was reset): re-read nonces next time.
      nonceManager.reset({ address: account.address, chainId });
      throw toLedgerError(err, action, 'ledger_unavailable');
    }
    if (receipt.status !== 'success') {
      // The state changed between estimate and inclusion: replay at that block to learn why.
      try {
        await reader.simulateContract({ ...call, blockNumber: receipt.blockNumber });
      } catch (err) {
        throw toLedgerError(err, action);
      }
      throw new LedgerError('tx_failed', `${action}: the transaction reverted`);
    }
    return receipt;
  };

  const resync = (): void => {
    nonceManager.reset({ address: account.address, chainId });
    chainChecked = undefined;
    givenUp.giveUp();
    givenUp = abandonment();
  };

  return { account: account.address, reader, ensureChain, resync, send };
}

/**
 * The gateway's ledger client over JSON-RPC.
 *
 * @param p.privateKey The gateway account's key (registered in the registry for its logId).
 * @param p.confirmations Blocks to wait after the including block (default 0: the receipt is final,
 *   as on QBFT/IBFT chains; on a proof-of-work/stake chain pick the depth you trust).
 * @throws {TypeError|RangeError} on a malformed deployment or key.
 * @example
 * const ledger = createViemLedger({ rpcUrl, deployment, privateKey });
 * await ledger.anchor({ logId, treeSize: 1024, rootHash, checkpointTime: Date.now() });
 */
export function createViemLedger(p: ViemClientParameters): LedgerClient {
  const s = createSender(p);
  const d = p.deployment;
  return {
    account: s.account,
    async anchor(a: AnchorParameters) {
      assertAnchorParameters(a);
      const args = [a.logId, BigInt(a.treeSize), a.rootHash, BigInt(a.checkpointTime)] as const;
      const receipt = await s.send('anchor', d.anchors, ANCHORS_ABI, 'anchor', args);
      // A call to an address without code "succeeds" too: only our event proves the anchor.
      const events = parseEventLogs({ abi: ANCHORS_ABI, eventName: 'Anchored', logs: receipt.logs });
      if (!events.some((e) => e.address.toLowerCase() === d.anchors.toLowerCase())) {
        throw new LedgerError('contract_missing', `anchor: ${LEDGER_ERROR_CODES.contract_missing}`);
      }
      return { txHash: receipt.transactionHash, blockNumber: toSafeNumber(receipt.blockNumber) };
    },
    async latestAnchor(logId: Hex) {
      assertBytes32('logId', logId);
      await s.ensureChain('latestAnchor');
      let r: readonly [bigint, Hex, bigint, bigint];
      try {
        r = await s.reader.readContract({
          address: d.anchors,
          abi: ANCHORS_ABI,
          functionName: 'latest',
          args: [logId],
        });
      } catch (err) {
        throw toLedgerError(err, 'latestAnchor', 'ledger_unavailable');
      }
      return r[0] === 0n ? null : { treeSize: toSafeNumber(r[0]), rootHash: r[1] };
    },
    async getAnchors(logId: Hex, fromBlock = 0) {
      assertSafeUint('fromBlock', fromBlock);
      await s.ensureChain('getAnchors');
      return readAnchors(s.reader, d.anchors, Math.max(d.deployBlock, fromBlock), logId);
    },
    async head() {
      await s.ensureChain('head');
      try {
        const b = await s.reader.getBlock({ blockTag: 'latest' });
        if (b.hash === null || b.number === null) throw new Error('the latest block has no hash');
        return { number: toSafeNumber(b.number), hash: b.hash };
      } catch (err) {
        throw toLedgerError(err, 'head', 'ledger_unavailable');
      }
    },
    async blockHash(n: number) {
      assertSafeUint('n', n);
      await s.ensureChain('blockHash');
      try {
        const b = await s.reader.getBlock({ blockNumber: BigInt(n) });
        return b.hash;
      } catch (err) {
        if (err instanceof BlockNotFoundError) return null;
        throw toLedgerError(err, 'blockHash', 'ledger_unavailable');
      }
    },
    resync: s.resync,
  };
}

/**
 * The KGC's registry client over JSON-RPC.
 * @param p.privateKey The KGC account's key (the registry's deployer).
 * @param p.confirmations Blocks to wait after the including block before a write returns
 *   (default 0, as for `createViemLedger`).
 * @throws {TypeError|RangeError} on a malformed deployment or key.
 */
export function createViemRegistry(p: ViemClientParameters): RegistryClient {
  const s = createSender(p);
  const d = p.deployment;
  const write = async (action: string, functionName: string, args: readonly unknown[]): Promise<Hex> => {
    await requireCode(s.reader, d.registry, action); // a write to an empty address would "succeed"
    const receipt = await s.send(action, d.registry, REGISTRY_ABI, functionName, args);
    return receipt.transactionHash;
  };
  const read = async <T>(action: string, fn: () => Promise<T>): Promise<T> => {
    await s.ensureChain(action);
    try {
      return await fn();
    } catch (err) {
      throw toLedgerError(err, action, 'ledger_unavailable');
    }
  };
  return {
    account: s.account,
    async registerDevice(devId, spkiHash) {
      assertDeviceId('devId', devId);
      assertBytes32('spkiHash', spkiHash, true);
      return write('registerDevice', 'registerDevice', [devId, spkiHash]);
    },
    async revokeDevice(devId) {
      assertDeviceId('devId', devId);
      return write('revokeDevice', 'revokeDevice', [devId]);
    },
    async registerGateway(account, logId) {
      assertAddress('account', account);
      assertBytes32('logId', logId, true);
      return write('registerGateway', 'registerGateway', [account, logId]);
    },
    async setGatewayActive(account, active) {
      assertAddress('account', account);
      if (typeof active !== 'boolean') throw new TypeError('active must be a boolean');
      return write('setGatewayActive', 'setGatewayActive', [account, active]);
    },
    async getDevice(devId) {
      assertDeviceId('devId', devId);
      const [spkiHash, status, sinceBlock] = await read('getDevice', () =>
        s.reader.readContract({
          address: d.registry,
          abi: REGISTRY_ABI,
          functionName: 'device',
          args: [devId],
        }),
      );
      const names: DeviceStatus[] = ['none', 'active', 'revoked'];
      const name = names[status];
      if (name === undefined) throw new LedgerError('bad_ledger_data', 'getDevice: unknown device status');
      return { spkiHash, status: name, sinceBlock: toSafeNumber(sinceBlock) };
    },
    async isActiveGateway(account, logId) {
      assertAddress('account', account);
      assertBytes32('logId', logId);
      return read('isActiveGateway', () =>
        s.reader.readContract({
          address: d.registry,
          abi: REGISTRY_ABI,
          functionName: 'isActiveGateway',
          args: [account, logId],
        }),
      );
    },
  };
}

/** @throws {LedgerError} `contract_missing` when `address` holds no code. */
async function requireCode(reader: PublicClient, address: Hex, action: string): Promise<void> {
  let code: Hex | undefined;
  try {
    code = await reader.getCode({ address });
  } catch (err) {
    throw toLedgerError(err, action, 'ledger_unavailable');
  }
  if (code === undefined || code === '0x') {
    throw new LedgerError('contract_missing', `${action}: ${LEDGER_ERROR_CODES.contract_missing}`);
  }
}

const ANCHORED = parseAbiItem(ANCHORED_EVENT);
/** Blocks per `eth_getLogs` request (public endpoints often cap the range at 10k). */
const LOG_WINDOW = 10_000n;

async function readAnchors(
  reader: PublicClient,
  anchors: Hex,
  deployBlock: number,
  logId: Hex,
): Promise<AnchorRecord[]> {
  assertBytes32('logId', logId);
  await requireCode(reader, anchors, 'getAnchors');
  const out: AnchorRecord[] = [];
  try {
    const head = await reader.getBlockNumber({ cacheTime: 0 }); // viem caches the head for ~4 s by default: read it fresh
    for (let from = BigInt(deployBlock); from <= head; from += LOG_WINDOW) {
      const to = from + LOG_WINDOW - 1n < head ? from + LOG_WINDOW - 1n : head;
      const logs = await reader.getLogs({
        address: anchors,
        event: ANCHORED,
        args: { logId },
        fromBlock: from,
        toBlock: to,
      });
      for (const l of logs) {
        if (l.removed || l.blockNumber === null || l.transactionHash === null) continue;
        const { treeSize, rootHash, checkpointTime } = l.args;
        if (treeSize === undefined || rootHash === undefined || checkpointTime === undefined) continue;
        out.push({
          logId: logId.toLowerCase() as Hex,
          treeSize: toSafeNumber(treeSize),
          rootHash,
          checkpointTime: toSafeNumber(checkpointTime),
          txHash: l.transactionHash,
          blockNumber: toSafeNumber(l.blockNumber),
        });
      }
    }
  } catch (err) {
    throw toLedgerError(err, 'getAnchors', 'ledger_unavailable');
  }
  return out; // eth_getLogs returns logs in chain order, and the windows ascend
}

/**
 * Every `Anchored` event of `logId` since `deployment.deployBlock`, in chain order; read-only
 * (the auditor's CLI; PROTOCOL.md §5 "fetch nothing but the anchors from the chain").
 * @throws {LedgerError} `ledger_unavailable`, `contract_missing` (no code at the address) or
 *   `bad_ledger_data`.
 */
export async function fetchAnchors(p: {
  rpcUrl: string;
  deployment: Pick<Deployment, 'anchors' | 'deployBlock'>;
  logId: Hex;
}): Promise<AnchorRecord[]> {
  assertAddress('deployment.anchors', p.deployment.anchors);
  assertSafeUint('deployment.deployBlock', p.deployment.deployBlock);
  return readAnchors(createReadClient(p.rpcUrl), p.deployment.anchors, p.deployment.deployBlock, p.logId);
}
