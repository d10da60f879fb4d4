/**
 * @module anchor/ledger/anvil
 * The embedded dev ledger (ARCHITECTURE.md "Real components"): Foundry's `anvil` from the npm
 * package `@foundry-rs/anvil`, bound to 127.0.0.1, state persisted to a file: anvil loads it
 * and writes it on exit (`--state FILE`), and while it runs the file is written whenever the
 * chain has moved, by temporary file and rename (anchor/ledger/state-keeper: anvil's own
 * `--state-interval 1` rewrote the whole state every second, idle or not; without either, a
 * SIGKILL loses everything since start, STACK-NOTES.md).
 *
 * anvil's own write on exit is in place (open with O_TRUNC, then write), so a SIGKILL during it
 * can leave a torn file that anvil refuses to load. `startAnvil` therefore checks the file
 * before launching: a good file is copied to `<file>.bak`; a torn one is moved aside to
 * `<file>.corrupt-<ms>` and the backup is restored (`handle.state` says which happened). The
 * chain then lacks what came after the backup; the anchoring outbox reconciles (ARCHITECTURE.md
 * guarantee 5).
 *
 * Dev chains only: anvil's accounts and keys are public knowledge.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestClient, http } from 'viem';
import { findRepoRoot } from '../contracts/index.js';
import { freePort } from './ports.js';
import { StateKeeper } from './state-keeper.js';
import { assertAddress, assertSafeUint, type Hex, LedgerError } from './types.js';

/**
 * anvil's well-known account #0 private key (from the public test mnemonic "test test … junk").
 *
 * **DEV CHAINS ONLY.** Everyone knows this key: anything it controls on a real network is
 * stolen within seconds. Never use it as a KGC or gateway key outside a local anvil.
 */
export const ANVIL_DEV_KEY: Hex = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

/** anvil's default chain id. */
export const ANVIL_CHAIN_ID = 31337;

/** What happened to the state file before launch. */
export type AnvilStateOutcome =
  /** no state file given */
  | 'ephemeral'
  /** the file did not exist: a new chain */
  | 'new'
  /** the file was loaded */
  | 'loaded'
  /** the file was torn; `<file>.bak` was restored */
  | 'restored_backup'
  /** the file was torn and there was no usable backup: a new chain */
  | 'reset';

export interface AnvilHandle {
  rpcUrl: string;
  port: number;
  chainId: number;
  /** The anvil process id (for tests that kill it hard). */
  pid: number;
  state: AnvilStateOutcome;
  /**
   * Settles when the process has exited, for any reason (a `stop()`, a crash, a kill -9 from
   * outside), with how: `signal SIGKILL`, `code 0`, … A supervisor restarts on it
   * (gateway io/anchoring/chain-watchdog).
   */
  readonly exited: Promise<string>;
  /** SIGTERM, then waits for exit (anvil writes its state on the way out); SIGKILL after 10 s. Idempotent. */
  stop(): Promise<void>;
}

export interface StartAnvilOptions {
  /** Persist the chain here (`--state FILE`, and written while it runs when the chain moved). Default: in memory only. */
  stateFile?: string;
  /** Told once when the state file can no longer be written while anvil runs (a full disk); tried again at each poll. */
  onStateError?: (err: unknown) => void;
  /** Default: a free loopback port. */
  port?: number;
  /** Default 31337. */
  chainId?: number;
  /** Seconds between blocks. Default: a block per transaction (automine). */
  blockTime?: number;
  /** How long to wait for `eth_chainId` to answer. Default 15 000 ms. */
  readyTimeoutMs?: number;
  /**
   * Called with the process id as soon as anvil is spawned, before it answers: a caller
   * that must never leave an orphan (the embedded chain of a data directory) records it
   * here, since a kill -9 may come at any moment after.
   */
  onSpawn?: (pid: number) => void;
}

/** Children still running, killed when this process exits (one set of listeners for all of them). */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function killRunning(): void {
  // SIGTERM, not SIGKILL: anvil saves its state on SIGTERM even after we are gone.
  for (const child of running) child.kill('SIGTERM');
}
/**
 * A terminating signal skips the 'exit' event: stop the children, then, unless the application
 * handles the signal itself, re-raise it so the default action (termination) still happens.
 */
function onSignal(signal: NodeJS.Signals): void {
  // An application that handles the signal shuts down in its own order (it may still need
  // the chain to anchor a last checkpoint) and stops us itself; 'exit' is the backstop.
  if (process.listenerCount(signal) > 0) return;
  killRunning();
  process.kill(process.pid, signal);
}
function installExitHooks(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killRunning);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, onSignal);
}

/**
 * Path of the anvil binary of the installed `@foundry-rs/anvil-linux-amd64` package (never
 * downloaded). The `node_modules/.bin/anvil` wrapper is not used: it is a Node process in front
 * of the binary, which would stand between our signals and anvil.
 * @throws {LedgerError} `anvil_failed` when the package is not installed.
 */
export function anvilBinaryPath(): string {
  const candidates: string[] = [];
  try {
    const pkg = createRequire(import.meta.url).resolve('@foundry-rs/anvil-linux-amd64/package.json');
    candidates.push(join(dirname(pkg), 'bin', 'anvil'));
  } catch {
    // not resolvable from here: try the repository's node_modules
  }
  candidates.push(join(findRepoRoot(), 'node_modules', '@foundry-rs', 'anvil-linux-amd64', 'bin', 'anvil'));
  const found = candidates.find((p) => existsSync(p));
  if (!found)
    throw new LedgerError('anvil_failed', 'the @foundry-rs/anvil-linux-amd64 package is not installed');
  return found;
}

/** Checks the state file and keeps a backup of a good one; restores the backup over a torn one. */
function prepareStateFile(file: string): AnvilStateOutcome {
  const backup = `${file}.bak`;
  const parses = (p: string): boolean => {
    try {
      JSON.parse(readFileSync(p, 'utf8'));
      return true;
    } catch {
      return false;
    }
  };
  if (!existsSync(file)) return 'new';
  if (parses(file)) {
    copyFileSync(file, `${backup}.tmp`);
    renameSync(`${backup}.tmp`, backup);
    return 'loaded';
  }
  renameSync(file, `${file}.corrupt-${Date.now()}`);
  if (existsSync(backup) && parses(backup)) {
    copyFileSync(backup, `${file}.tmp`);
    renameSync(`${file}.tmp`, file);
    return 'restored_backup';
  }
  return 'reset';
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function rpcChainId(rpcUrl: string): Promise<number | null> {
  try {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1000),
    });
    const body = (await res.json()) as { result?: string };
    return typeof body.result === 'string' ? Number.parseInt(body.result, 16) : null;
  } catch {
    return null;
  }
}

interface Launched {
  child: ChildProcess;
  exited: Promise<string>;
  exitInfo: () => string | null;
  stderrTail: () => string;
}

function launch(bin: string, args: string[]): Launched {
  // Own process group: a Ctrl-C in the terminal reaches only us, and we stop anvil after the
  // gateway has drained, instead of both dying at once.
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    tail = (tail + s).slice(-2000);
  });
  let info: string | null = null;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      info = signal ? `signal ${signal}` : `code ${code}`;
      running.delete(child);
      resolve(info);
    });
    child.once('error', (err) => {
      info = `spawn error ${(err as NodeJS.ErrnoException).code ?? ''}`;
      running.delete(child);
      resolve(info);
    });
  });
  running.add(child);
  installExitHooks();
  return { child, exited, exitInfo: () => info, stderrTail: () => tail };
}

/**
 * Starts anvil on 127.0.0.1 and resolves once `eth_chainId` answers with the expected id.
 * The child is sent SIGTERM when this process exits or gets SIGTERM/SIGINT/SIGHUP (a signal the
 * application does not handle itself is then re-raised); after a SIGKILL of this process anvil
 * lives on.
 *
 * @throws {LedgerError} `anvil_failed` when the binary is missing, exits early (a port in use, a
 *   state file it cannot read) or does not answer in time; anvil's stderr is the `cause`.
 * @throws {TypeError|RangeError} on bad options.
 * @example
 * const node = await startAnvil({ stateFile: join(dataDir, 'chain.json') });
 * // … node.rpcUrl …
 * await node.stop();
 */
export async function startAnvil(opts: StartAnvilOptions = {}): Promise<AnvilHandle> {
  const chainId = opts.chainId ?? ANVIL_CHAIN_ID;
  assertSafeUint('chainId', chainId, 1);
  if (opts.port !== undefined) assertSafeUint('port', opts.port, 1);
  if (opts.blockTime !== undefined) assertSafeUint('blockTime', opts.blockTime, 1);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;
  const bin = anvilBinaryPath();
  const state: AnvilStateOutcome = opts.stateFile ? prepareStateFile(opts.stateFile) : 'ephemeral';

  // A port we picked may be taken before anvil binds it: pick again, a few times.
  const attempts = opts.port === undefined ? 3 : 1;
  let lastError: LedgerError | undefined;
  for (let i = 0; i < attempts; i++) {
    const port = opts.port ?? (await freePort());
    // Another node on this port would answer our readiness probe while our anvil dies: refuse.
    if (!(await portIsFree(port))) {
      lastError = new LedgerError('anvil_failed', 'the port is already in use on 127.0.0.1');
      continue;
    }
    const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chainId), '--quiet'];
    if (opts.stateFile) args.push('--state', opts.stateFile);
    if (opts.blockTime !== undefined) args.push('--block-time', String(opts.blockTime));
    const l = launch(bin, args);
    if (l.child.pid !== undefined) opts.onSpawn?.(l.child.pid);
    const rpcUrl = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + readyTimeoutMs;
    let ready = false;
    while (!ready && l.exitInfo() === null && Date.now() < deadline) {
      const id = await rpcChainId(rpcUrl);
      if (id === chainId) ready = true;
      else await sleep(40);
    }
    if (ready && l.exitInfo() === null) {
      const keeper = opts.stateFile
        ? new StateKeeper({
            rpcUrl,
            file: opts.stateFile,
            ...(opts.onStateError ? { onError: opts.onStateError } : {}),
          })
        : undefined;
      keeper?.start();
      void l.exited.then(() => keeper?.stop());
      return makeHandle(l, rpcUrl, port, chainId, state, keeper);
    }
    const cause = new Error(l.stderrTail() || 'anvil wrote nothing to stderr');
    if (l.exitInfo() === null) {
      l.child.kill('SIGKILL');
      await l.exited;
      throw new LedgerError('anvil_failed', `anvil did not answer eth_chainId within ${readyTimeoutMs} ms`, {
        cause,
      });
    }
    lastError = new LedgerError('anvil_failed', `anvil exited before answering (${l.exitInfo()})`, { cause });
  }
  throw lastError as LedgerError;
}

function makeHandle(
  l: Launched,
  rpcUrl: string,
  port: number,
  chainId: number,
  state: AnvilStateOutcome,
  keeper: StateKeeper | undefined,
): AnvilHandle {
  let stopping: Promise<void> | undefined;
  return {
    rpcUrl,
    port,
    chainId,
    pid: l.child.pid as number,
    state,
    exited: l.exited,
    stop() {
      stopping ??= (async () => {
        await keeper?.stop(); // its write under way first: anvil's own on exit comes last
        if (l.exitInfo() !== null) return;
        l.child.kill('SIGTERM');
        const timer = setTimeout(() => l.child.kill('SIGKILL'), 10_000);
        await l.exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/**
 * Sets an account's balance with `anvil_setBalance`. Dev chains only.
 * @param weiHex Default 1000 ether.
 * @throws {LedgerError} `ledger_unavailable` when the node does not answer or refuses.
 */
export async function fundAccount(
  rpcUrl: string,
  address: Hex,
  weiHex: Hex = '0x3635c9adc5dea00000',
): Promise<void> {
  assertAddress('address', address);
  if (typeof weiHex !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(weiHex))
    throw new TypeError('weiHex must be 0x hex');
  const client = createTestClient({ mode: 'anvil', transport: http(rpcUrl, { retryCount: 0 }) });
  try {
    await client.setBalance({ address, value: BigInt(weiHex) });
  } catch (err) {
    throw new LedgerError('ledger_unavailable', 'anvil_setBalance failed', { cause: err });
  }
}
