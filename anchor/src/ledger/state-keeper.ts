/**
 * @module anchor/ledger/state-keeper
 * Keeps an embedded anvil's state file (anchor/ledger/anvil): written when the chain has
 * moved, never when it has not. anvil's own `--state-interval 1` rewrote the whole state every
 * second whatever happened: its state grows with every block (~2.2 MB an hour of checkpoints
 * on the demo), so a chain left running wrote that much more each second, idle or not (3.2 GB
 * in its first 47 minutes; tens of MB a second by the end of a shift), on the disk the
 * gateway fsyncs its frames to. Here the block number is asked every `intervalMs` (one small
 * RPC); when it differs from the one last written, `anvil_dumpState` (gzip of the very JSON
 * `--state` loads) is written to a temporary file, fsync'd and renamed over the state file,
 * so the file is never torn either. What a SIGKILL of anvil can lose stays what it was: the
 * chain's last second or so.
 *
 * State changes without a block (`anvil_setBalance`) are written with the next block; the
 * chain's users here always mine one right after (funding, then deployment).
 */
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';

const gunzipAsync = promisify(gunzip);

/** How often the chain's block number is asked, ms. */
export const STATE_POLL_MS = 1000;

export interface StateKeeperOptions {
  rpcUrl: string;
  /** The file anvil loads at start (`--state`). */
  file: string;
  intervalMs?: number;
  /** Told once when polls or writes start failing (each next poll tries again), not at every one. */
  onError?: (err: unknown) => void;
}

async function rpc(rpcUrl: string, method: string): Promise<unknown> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: [] }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json()) as { result?: unknown; error?: { message?: string } };
  if (body.error || body.result === undefined)
    throw new Error(`${method}: ${body.error?.message ?? 'no result'}`);
  return body.result;
}

/** Writes `data` to `file` by a temporary file, fsync'd, renamed over it, the directory fsync'd. */
async function replaceFile(file: string, data: Uint8Array): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export class StateKeeper {
  readonly #o: StateKeeperOptions;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | null = null;
  #written: string | null = null;
  #stopped = false;
  #failing = false;

  constructor(o: StateKeeperOptions) {
    this.#o = o;
  }

  /** Polls every `intervalMs` from now (the first poll writes the state once). */
  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => {
      this.#tick ??= this.#poll().finally(() => {
        this.#tick = null;
      });
    }, this.#o.intervalMs ?? STATE_POLL_MS);
    this.#timer.unref();
  }

  /** Writes the state now if the chain moved since the last write (also what each poll does). */
  async #poll(): Promise<void> {
    try {
      const block = String(await rpc(this.#o.rpcUrl, 'eth_blockNumber'));
      if (block === this.#written || this.#stopped) return;
      const dump = await rpc(this.#o.rpcUrl, 'anvil_dumpState');
      if (typeof dump !== 'string' || !dump.startsWith('0x')) throw new Error('anvil_dumpState: not hex');
      const json = await gunzipAsync(Buffer.from(dump.slice(2), 'hex'));
      if (this.#stopped) return;
      await replaceFile(this.#o.file, json);
      this.#written = block;
      this.#failing = false;
    } catch (err) {
      if (this.#stopped || this.#failing) return;
      this.#failing = true;
      this.#o.onError?.(err);
    }
  }

  /** No poll after this; waits for the one under way (anvil then writes its state on exit). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#tick;
  }
}
