/**
 * @module io/outbound/influx-sink
 * Optional InfluxDB sink (issue 4; off by default): readings → the InfluxDB v2 write API
 * (`POST /api/v2/write?org&bucket&precision=ms`, line protocol,
 * https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/).
 *
 * - Pseudonymous: measurement `vitals`, tags `dev` and (when bound) `bed` only — never a
 *   patient identity; fields are the PROTOCOL.md §1 observations (integers, `i` suffix).
 * - Batched: points queue in memory and go out `batchSize` at a time or every
 *   `flushIntervalMs`; `flush()` resolves only when the server accepted them (2xx) or they
 *   are safely in the spill file — it never resolves on a silent loss (the trap of
 *   `WriteApi.close()` in STACK-NOTES.md does not apply: every outcome is awaited here).
 * - Retry: a failed batch goes to the spill; the spill is retried with exponential backoff
 *   (1 s … `maxRetryDelayMs`), oldest first, and removed only after a 2xx.
 * - Bounded spill file: `spillFile`, at most `spillMaxBytes`. It holds vitals, so each
 *   record is sealed (jose flattened JWE, dir + A256GCM) under a per-process data key whose
 *   key envelope (General JSON JWE for the recipients, as io/sealed) is the file's first
 *   line: the gateway itself can resend within its lifetime; after a crash a host with a
 *   recipient private key can replay the file (`readSpill`). When the bound is reached, or
 *   the disk is too full to write a record, new points are counted in `stats.dropped` and
 *   `onAlarm('spill_full')` fires: a loss that is reported, never silent. A record a full
 *   disk tore is cut off again, and a torn last record (a crash mid-append) is skipped when
 *   the file is read, so the records before it are never lost with it.
 * - Bounded: every write has an overall deadline (`timeoutMs`, request and answer together),
 *   not only the client's idle timeout (a peer trickling a byte now and then held one write,
 *   and every flush queued behind it, for minutes). At the deadline the request and its
 *   socket are destroyed and the write counts as failed (spill, backoff); `close()` cuts what
 *   is still in flight after one deadline and spills it, so a hung server never holds the
 *   gateway's stop, and its sockets (the sink's own keep-alive agent) are closed.
 *
 * The transport is `@influxdata/influxdb-client`'s WriteApi (InfluxDB v2 write API), one
 * flush awaited per batch, over the client's Node transport wrapped in `DeadlineTransport`.
 */
import {
  appendFileSync,
  existsSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { InfluxDB, setLogger } from '@influxdata/influxdb-client';
import {
  createDataKey,
  openDataKey,
  openWithDataKey,
  type Recipient,
  type RecipientSecret,
  sealWithDataKey,
} from '../../core/envelope.js';
import { OBSERVATION_KEYS } from '../../core/trend.js';
import { VitalTrailError } from '../../protocol/errors.js';
import type { Observations } from '../../protocol/frame.js';
import { DeadlineTransport } from './influx-transport.js';

export interface InfluxPoint {
  dev: string;
  bed?: string;
  ts: number;
  obs: Observations;
  bat?: number;
}

export interface InfluxSinkOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8086. */
  url: string;
  org: string;
  bucket: string;
  /** API token (read from a file by the caller; never argv, never logged). */
  token?: string;
  /** Recipients the spill file's key is wrapped for (as the sealed store). */
  recipients: readonly Recipient[];
  spillFile: string;
  /** Default 64 MiB. */
  spillMaxBytes?: number;
  /** Default 500 points. */
  batchSize?: number;
  /** Default 1000 ms. */
  flushIntervalMs?: number;
  /** Default 30 s. */
  maxRetryDelayMs?: number;
  /**
   * Default 10 s: the deadline of each write, from its request to the end of the answer;
   * then its request and socket are destroyed and the write counts as failed. `close()`
   * gives what is in flight one such deadline.
   */
  timeoutMs?: number;
  /** Technical alarms: 'server_unreachable' (spilling), 'spill_full' (dropping), 'recovered'. */
  onAlarm?: (a: 'server_unreachable' | 'spill_full' | 'recovered') => void;
}

// The client logs failed writes to the console by default; failures are ours to count and
// alarm on (stats, onAlarm), and nothing about a write may reach a log.
setLogger({ error: () => {}, warn: () => {} });

const TAG_ESCAPE = /[,= \\]/g;
const SPILL_AAD = (n: number) => new TextEncoder().encode(`vitaltrail-influx-spill/1:${n}`);

/** One point as a line of line protocol (ms precision). Tags and field keys are ours. */
export function toLineProtocol(p: InfluxPoint): string | null {
  const fields: string[] = [];
  for (const k of OBSERVATION_KEYS) {
    const v = p.obs[k];
    if (typeof v === 'number' && Number.isInteger(v)) fields.push(`${k}=${v}i`);
  }
  if (typeof p.bat === 'number' && Number.isInteger(p.bat)) fields.push(`bat=${p.bat}i`);
  if (fields.length === 0) return null;
  const tags = [`dev=${p.dev.replace(TAG_ESCAPE, (c) => `\\${c}`)}`];
  if (p.bed) tags.push(`bed=${p.bed.replace(TAG_ESCAPE, (c) => `\\${c}`)}`);
  return `vitals,${tags.join(',')} ${fields.join(',')} ${Math.trunc(p.ts)}`;
}

export class InfluxSink {
  readonly #influx: InfluxDB;
  readonly #transport: DeadlineTransport;
  readonly #agent: HttpAgent;
  readonly #o: Required<Omit<InfluxSinkOptions, 'token' | 'onAlarm'>> &
    Pick<InfluxSinkOptions, 'token' | 'onAlarm'>;
  #queue: string[] = [];
  #spillKey: { key: CryptoKey; kid: string } | null = null;
  #spillCount = 0;
  #sending: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #retryAt = 0;
  #retryDelay = 1000;
  #down = false;
  #closed = false;
  /** Set by `close()` after its deadline: every send fails at once (its batch is spilled). */
  #cut = false;
  readonly stats = { written: 0, spilled: 0, dropped: 0, failures: 0 };

  constructor(opts: InfluxSinkOptions) {
    this.#o = {
      spillMaxBytes: 64 * 1024 * 1024,
      batchSize: 500,
      flushIntervalMs: 1000,
      maxRetryDelayMs: 30_000,
      timeoutMs: 10_000,
      ...opts,
    };
    if (opts.recipients.length === 0) throw new RangeError('InfluxSink: recipients must not be empty');
    // The sink's own keep-alive agent, so that close() can close its idle sockets too.
    this.#agent = new (opts.url.startsWith('https:') ? HttpsAgent : HttpAgent)({ keepAlive: true });
    const base = new InfluxDB({
      url: opts.url,
      timeout: this.#o.timeoutMs,
      transportOptions: { agent: this.#agent },
      ...(opts.token ? { token: opts.token } : {}),
    }).transport;
    this.#transport = new DeadlineTransport(base, this.#o.timeoutMs);
    this.#influx = new InfluxDB({ url: opts.url, transport: this.#transport });
    // A spill left by an earlier process is kept aside for `readSpill` (its key is sealed).
    if (existsSync(opts.spillFile)) renameSync(opts.spillFile, `${opts.spillFile}.orphan-${Date.now()}`);
    this.#timer = setInterval(() => void this.flush().catch(() => {}), this.#o.flushIntervalMs);
    this.#timer.unref();
  }

  /** Points waiting in memory or in the spill file. */
  get pending(): number {
    return this.#queue.length + this.#spillCount;
  }

  /** True while the server is unreachable (points are spilling). */
  get down(): boolean {
    return this.#down;
  }

  /** Queues one reading; sends a batch when `batchSize` points are waiting. */
  write(p: InfluxPoint): void {
    if (this.#closed) throw new VitalTrailError('sink_closed', 'the influx sink is closed');
    const line = toLineProtocol(p);
    if (line === null) return;
    this.#queue.push(line);
    if (this.#queue.length >= this.#o.batchSize) void this.flush().catch(() => {});
  }

  /**
   * Sends what is queued (and, when due, the spill). Resolves when every queued point
   * was accepted by the server or written to the spill file (or counted as dropped).
   */
  flush(): Promise<void> {
    // Each flush after the one before, whatever its outcome: one failure must not fail
    // every later flush (a rejected link in the chain did, and the queue then only grew).
    const next = this.#sending.catch(() => {}).then(() => this.#flushOnce());
    this.#sending = next;
    return next;
  }

  /**
   * Flushes, tries the spill once more, and stops the timer. Spilled points stay on disk.
   * Bounded: after `timeoutMs` the writes still in flight are aborted and every batch not
   * yet sent goes to the spill (nothing accepted is lost), so a hung server cannot hold it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#retryAt = 0;
    const cut = setTimeout(() => {
      this.#cut = true;
      this.#transport.abortAll('the influx sink is closing');
    }, this.#o.timeoutMs);
    try {
      await this.flush();
    } finally {
      clearTimeout(cut);
    }
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#agent.destroy();
  }

  async #flushOnce(): Promise<void> {
    if (this.#spillCount > 0 && Date.now() >= this.#retryAt) {
      // A spill that cannot be read or rewritten (a full disk) is tried again after the
      // backoff; the queue still goes on (to the server, or behind it to the spill).
      await this.#drainSpill().catch(() => this.#backOff());
    }
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#o.batchSize);
      // Keep order: while the spill holds older points, newer ones queue behind them.
      if (this.#spillCount === 0 && (await this.#send(batch))) {
        this.stats.written += batch.length;
        continue;
      }
      await this.#spill(batch);
    }
  }

  async #send(lines: readonly string[]): Promise<boolean> {
    if (this.#cut) return false;
    // One WriteApi per batch, without the client's own retry buffer: our spill file is the
    // retry buffer. STACK-NOTES: close() can resolve while a batch still fails later, so we
    // await flush() and make writeFailed reject it, never trusting a silent resolve.
    const api = this.#influx.getWriteApi(this.#o.org, this.#o.bucket, 'ms', {
      batchSize: lines.length + 1,
      flushInterval: 0,
      maxRetries: 0,
      maxBufferLines: lines.length + 1,
      writeFailed: (err: Error) => Promise.reject(err),
    });
    try {
      api.writeRecords(lines as string[]);
      await api.flush();
      if (this.#down) {
        this.#down = false;
        this.#o.onAlarm?.('recovered');
      }
      this.#retryDelay = 1000;
      return true;
    } catch {
      // unreachable, refused or timed out: handled below
    } finally {
      await api.close().catch(() => {});
    }
    this.stats.failures += 1;
    if (!this.#down) {
      this.#down = true;
      this.#o.onAlarm?.('server_unreachable');
    }
    this.#backOff();
    return false;
  }

  /** The spill's next try after a failure: 1 s doubling up to `maxRetryDelayMs`. */
  #backOff(): void {
    this.#retryAt = Date.now() + this.#retryDelay;
    this.#retryDelay = Math.min(this.#o.maxRetryDelayMs, this.#retryDelay * 2);
  }

  async #spill(lines: string[]): Promise<void> {
    const file = this.#o.spillFile;
    const size = existsSync(file) ? statSync(file).size : 0;
    if (size >= this.#o.spillMaxBytes) {
      this.stats.dropped += lines.length;
      this.#o.onAlarm?.('spill_full');
      return;
    }
    try {
      if (!this.#spillKey || size === 0) {
        const kid = `spill-${Date.now()}`;
        const { key, envelope } = await createDataKey(this.#o.recipients, SPILL_AAD(0));
        this.#spillKey = { key, kid };
        writeFileSync(file, `${JSON.stringify({ kid, envelope })}\n`, { mode: 0o600 });
      }
      const n = this.#spillCount + 1;
      const rec = await sealWithDataKey(
        new TextEncoder().encode(lines.join('\n')),
        this.#spillKey.key,
        this.#spillKey.kid,
        SPILL_AAD(n),
      );
      appendFileSync(file, `${JSON.stringify({ n, count: lines.length, rec })}\n`, { mode: 0o600 });
    } catch {
      // A disk too full for the record (or any write failure): the batch is dropped and
      // told, as when the spill is full, and what a failed append left is cut off again.
      if (size > 0) truncateQuietly(file, size);
      else rmSync(file, { force: true });
      this.stats.dropped += lines.length;
      this.#o.onAlarm?.('spill_full');
      return;
    }
    this.#spillCount += lines.length;
    this.stats.spilled += lines.length;
  }

  /** Resends the spill, oldest first; rewrites the file without what the server accepted. */
  async #drainSpill(): Promise<void> {
    const file = this.#o.spillFile;
    if (!this.#spillKey || !existsSync(file)) return;
    const [head, ...recs] = spillLines(file);
    let sent = 0;
    for (const r of recs) {
      const { n, rec } = JSON.parse(r) as { n: number; count: number; rec: string };
      const lines = new TextDecoder()
        .decode(await openWithDataKey(rec, this.#spillKey.key, this.#spillKey.kid, SPILL_AAD(n)))
        .split('\n');
      if (!(await this.#send(lines))) break;
      this.stats.written += lines.length;
      this.#spillCount -= lines.length;
      sent += 1;
    }
    if (sent === recs.length) {
      rmSync(file, { force: true });
      this.#spillKey = null;
      this.#spillCount = 0;
    } else if (sent > 0) {
      const tmp = `${file}.tmp`;
      writeFileSync(tmp, `${[head, ...recs.slice(sent)].join('\n')}\n`, { mode: 0o600 });
      renameSync(tmp, file);
    }
  }
}

/** The complete lines of a spill file: a torn last one (a crash mid-append) is left out. */
function spillLines(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const whole = text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
  return whole.split('\n').filter(Boolean);
}

/** Cuts `file` back to `size` bytes; a failure leaves it as it is (read as a torn tail). */
function truncateQuietly(file: string, size: number): void {
  try {
    truncateSync(file, size);
  } catch {
    // spillLines skips a torn last record
  }
}

/**
 * Reads a spill file left by a stopped gateway (needs a recipient private key).
 * @returns the line-protocol lines, oldest first, to resend.
 * @throws {VitalTrailError} `integrity_error` / `no_recipient_key` as the sealed store.
 */
export async function readSpill(file: string, secrets: readonly RecipientSecret[]): Promise<string[]> {
  const [head, ...recs] = spillLines(file);
  if (!head) return [];
  const { kid, envelope } = JSON.parse(head) as { kid: string; envelope: string };
  const key = await openDataKey(envelope, secrets, SPILL_AAD(0));
  const out: string[] = [];
  for (const r of recs) {
    const { n, rec } = JSON.parse(r) as { n: number; rec: string };
    out.push(...new TextDecoder().decode(await openWithDataKey(rec, key, kid, SPILL_AAD(n))).split('\n'));
  }
  return out;
}
