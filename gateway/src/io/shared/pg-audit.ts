/**
 * @module io/shared/pg-audit
 * The audit of a gateway group in PostgreSQL (issue 16: "the audit of views", one ward
 * across many gateways): table `ward_audit` (io/shared/schema; every statement on it is
 * here), one hash chain over the audit lines of every gateway of the group. Each gateway's
 * own file log (io/ops/audit) stays the primary record; `ward_audit` is its shared copy, so
 * an auditor reads and checks the group's audit in one place, and a gateway lost with its
 * disk leaves what it had shipped.
 *
 * A row: `id` (1, 2, 3… without gaps, drawn under an advisory lock), `gateway`, `n` (the
 * line's number in that gateway's file log), `line` (the file line's text, already the
 * whitelisted audit JSON), `line_hash` (SHA-256 hex of the line's UTF-8 bytes: the `prev`
 * of the next line in the gateway's file, so a row is tied to its file chain), `prev` (the
 * previous row's `hash`; 64 zeros for id 1) and `hash`, the SHA-256 hex of the UTF-8 text
 *
 *     prev + "\n" + id + "\n" + gateway + "\n" + n + "\n" + line_hash
 *
 * (numbers in decimal; `printf '%s\n%s\n%s\n%s\n%s' … | sha256sum`). UNIQUE (gateway, n).
 *
 * - `PgAuditShipper` (a group gateway's, app/ward-steps): copies its file log into the table
 *   in order, from its cursor (the highest `n` the table holds for it: a restart or a
 *   database lost and back resumes there, nothing lost or doubled), at most `batch` lines a
 *   transaction, when the log was written (`AuditLog.onWritten`) and every `intervalMs`,
 *   across rotated files (io/ops `ChainReader`, from a remembered offset). It
 *   never blocks the audit's appends or ingest (it reads the files; failures are retried,
 *   reported once an outage). It stops at a line without a number (`audit_corrupt`) until
 *   the file is repaired (`vitaltrail audit verify` tells where).
 * - `PgAuditTrail` (io/ops `AuditTrail`; `vitaltrail audit verify --shared`): reads the
 *   chain by id and verifies it: ids without gaps (`out_of_sequence`), each `prev`, `hash`
 *   and `line_hash` recomputed (`chain_broken`), each line's own `n` (`malformed_line`),
 *   each gateway's `n` running on (`out_of_sequence`; `file_missing` when the chain itself
 *   is intact: the lines between were gone from the gateway's files when shipped). And
 *   `crossCheck`: a gateway's file log against its rows (same `n`, same `line_hash`).
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import {
  AuditError,
  type AuditProblemCode,
  type AuditTrail,
  type AuditTrailEntry,
  type AuditTrailProblem,
  type AuditTrailReport,
  ChainReader,
  chainLines,
  lineN,
  sha256Hex,
  ZERO_HASH_HEX,
} from '../ops/index.js';
import {
  closeSharedPool,
  openSharedPool,
  rollBack,
  type SharedPostgresOptions,
  SharedStateError,
  sharedQuery,
  unavailable,
} from './postgres.js';

/** Lines shipped per transaction at most. */
export const DEFAULT_AUDIT_SHIP_BATCH = 500;
/** The shipper's poll of its file log (ms); it also ships when its appender wrote. */
export const DEFAULT_AUDIT_SHIP_MS = 1000;
/** Held by every shipping transaction: one writer of `ward_audit` at a time. */
const AUDIT_LOCK = 0x5654_4155; // "VTAU"
const PAGE = 1000;
const MAX_PROBLEMS = 20;

/** A row of `ward_audit`. */
export interface GroupAuditRow {
  id: number;
  gateway: string;
  n: number;
  line: string;
  lineHash: string;
  prev: string;
  hash: string;
}

/** A row's `hash` (module doc): SHA-256 hex over prev, id, gateway, n and line_hash. */
export function groupHash(r: Omit<GroupAuditRow, 'hash' | 'line'>): string {
  return createHash('sha256')
    .update(`${r.prev}\n${r.id}\n${r.gateway}\n${r.n}\n${r.lineHash}`, 'utf8')
    .digest('hex');
}

export interface GroupAuditProblem extends AuditTrailProblem {
  id: number;
  gateway: string;
  n: number;
}

/** A gateway's rows in the chain: how many, the `n` of its first and of its last. */
export interface GroupAuditGateway {
  gateway: string;
  rows: number;
  first: number;
  last: number;
}

export interface GroupAuditReport extends AuditTrailReport {
  problems: GroupAuditProblem[];
  /** Every gateway with rows, by name. */
  gateways: GroupAuditGateway[];
  /** The last row checked (null: none). */
  head: { id: number; hash: string } | null;
  /** With `fromId`: the id the check started at; its `prev` is trusted as given. */
  from?: number;
}

/** A gateway's file log against its rows (`PgAuditTrail.crossCheck`). */
export interface CrossCheckReport extends AuditTrailReport {
  problems: GroupAuditProblem[];
  /** Rows whose line is in the file with the same hash. */
  matched: number;
  /** Lines of the file not (yet) in the table. */
  unshipped: number;
}

/** The pure check of the chain, fed the rows in id order (module doc). */
class GroupChainCheck {
  readonly problems: GroupAuditProblem[] = [];
  readonly gateways = new Map<string, GroupAuditGateway>();
  entries = 0;
  head: { id: number; hash: string } | null = null;
  #expectId: number;
  /** The hash the next row's prev must be (null: trusted, the first row of a `fromId` check). */
  #prev: string | null;

  constructor(readonly from: number | undefined) {
    this.#expectId = from ?? 1;
    this.#prev = from === undefined ? ZERO_HASH_HEX : null;
  }

  add(r: GroupAuditRow): void {
    this.entries += 1;
    const idOk = r.id === this.#expectId;
    if (!idOk) problem(this.problems, r, 'out_of_sequence');
    const prevOk = this.#prev === null || r.prev === this.#prev;
    const hashesOk = sha256Hex(Buffer.from(r.line, 'utf8')) === r.lineHash && groupHash(r) === r.hash;
    if (!prevOk || !hashesOk) problem(this.problems, r, 'chain_broken');
    if (lineN(Buffer.from(r.line, 'utf8')) !== r.n) problem(this.problems, r, 'malformed_line');
    const g = this.gateways.get(r.gateway);
    const expectN = g ? g.last + 1 : this.from === undefined ? 1 : r.n;
    if (r.n !== expectN)
      problem(
        this.problems,
        r,
        r.n > expectN && idOk && prevOk && hashesOk ? 'file_missing' : 'out_of_sequence',
      );
    if (g) {
      g.rows += 1;
      g.last = r.n;
    } else this.gateways.set(r.gateway, { gateway: r.gateway, rows: 1, first: r.n, last: r.n });
    this.#prev = r.hash;
    this.#expectId = r.id + 1;
    this.head = { id: r.id, hash: r.hash };
  }
}

function problem(out: GroupAuditProblem[], r: GroupAuditRow, code: AuditProblemCode): void {
  const last = out.at(-1);
  if (out.length >= MAX_PROBLEMS || (last?.id === r.id && last.code === code)) return;
  out.push({
    where: `ward_audit id ${r.id} (${r.gateway} n ${r.n})`,
    id: r.id,
    gateway: r.gateway,
    n: r.n,
    code,
  });
}

const ROW_COLUMNS = 'id, gateway, n, line, line_hash, prev, hash';

function rowOf(r: Record<string, unknown>): GroupAuditRow {
  return {
    id: Number(r.id),
    gateway: r.gateway as string,
    n: Number(r.n),
    line: r.line as string,
    lineHash: r.line_hash as string,
    prev: r.prev as string,
    hash: r.hash as string,
  };
}

/**
 * The group's audit chain, read and verified (module doc).
 * @example
 * const trail = await PgAuditTrail.open({ url, password }); const r = await trail.verify();
 */
export class PgAuditTrail implements AuditTrail {
  readonly #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** @throws {SharedStateError} `shared_unavailable` when the database cannot be used */
  static async open(o: SharedPostgresOptions): Promise<PgAuditTrail> {
    return new PgAuditTrail(await openSharedPool({ ...o, max: o.max ?? 2 }));
  }

  /** Rows after `after` in the order of `key`, a page at a time. */
  async *#rows(
    where: string,
    params: unknown[],
    key: 'id' | 'n',
    after: number,
  ): AsyncGenerator<GroupAuditRow> {
    for (;;) {
      const page = await sharedQuery(
        this.#pool,
        'the group audit',
        `SELECT ${ROW_COLUMNS} FROM ward_audit WHERE ${where} ${key} > $${params.length + 1}
         ORDER BY ${key} LIMIT ${PAGE}`,
        [...params, after],
      );
      for (const r of page.rows) yield rowOf(r);
      if (page.rows.length < PAGE) return;
      after = Number(page.rows.at(-1)?.[key]);
    }
  }

  /** @throws {SharedStateError} `shared_unavailable` */
  async *entries(from = 1): AsyncGenerator<AuditTrailEntry> {
    for await (const r of this.#rows('', [], 'id', from - 1))
      yield { seq: r.id, gateway: r.gateway, n: r.n, line: r.line };
  }

  /**
   * Checks the chain from id 1 (or from `fromId`, whose `prev` is then trusted).
   * @throws {SharedStateError} `shared_unavailable`
   */
  async verify(opts: { fromId?: number } = {}): Promise<GroupAuditReport> {
    const check = new GroupChainCheck(opts.fromId);
    for await (const r of this.#rows('', [], 'id', (opts.fromId ?? 1) - 1)) check.add(r);
    return {
      ok: check.problems.length === 0,
      entries: check.entries,
      problems: check.problems,
      gateways: [...check.gateways.values()].sort((a, b) => a.gateway.localeCompare(b.gateway)),
      head: check.head,
      ...(opts.fromId !== undefined ? { from: opts.fromId } : {}),
    };
  }

  /**
   * Checks `gateway`'s rows against its file log in `dir` (DATA/gateway): each row's line is
   * the file's line of that `n` (same SHA-256, else `chain_broken`); a row whose `n` the file
   * lacks is `file_missing` (`truncated` past the file's end). Lines not yet shipped are counted.
   * @throws {SharedStateError} `shared_unavailable`
   */
  async crossCheck(gateway: string, dir: string): Promise<CrossCheckReport> {
    const problems: GroupAuditProblem[] = [];
    let entries = 0;
    let matched = 0;
    let unshipped = 0;
    const file = chainLines(dir);
    try {
      let cur = file.next();
      const skip = () => {
        while (!cur.done && (cur.value.torn || cur.value.n === null)) cur = file.next();
      };
      for await (const r of this.#rows('gateway = $1 AND', [gateway], 'n', 0)) {
        entries += 1;
        skip();
        while (!cur.done && (cur.value.n as number) < r.n) {
          cur = file.next();
          skip();
        }
        if (cur.done) problem(problems, r, 'truncated');
        else if (cur.value.n !== r.n) problem(problems, r, 'file_missing');
        else {
          if (sha256Hex(cur.value.bytes) === r.lineHash) matched += 1;
          else problem(problems, r, 'chain_broken');
          cur = file.next();
        }
      }
      for (skip(); !cur.done; skip()) {
        unshipped += 1;
        cur = file.next();
      }
    } finally {
      file.return(undefined);
    }
    return { ok: problems.length === 0, entries, problems, matched, unshipped };
  }

  async close(): Promise<void> {
    await closeSharedPool(this.#pool);
  }
}

export interface PgAuditShipperOptions extends SharedPostgresOptions {
  /** This gateway: its rows' `gateway`. */
  gatewayId: string;
  /** The directory of its file log (DATA/gateway). */
  dir: string;
  /** Lines per transaction at most (default 500). */
  batch?: number;
  /** The poll of the file log and the retry of a failure (ms; default 1000). */
  intervalMs?: number;
  /** Told the first failure of an outage (then retried quietly until a batch goes through). */
  onError?: (err: unknown) => void;
}

/**
 * Ships a gateway's file log into `ward_audit` (module doc).
 * @example
 * const shipper = await PgAuditShipper.open({ url, password, gatewayId: 'gw-a', dir: paths.gatewayDir });
 * const off = audit.onWritten(() => shipper.nudge()); … off(); await shipper.close();
 */
export class PgAuditShipper {
  readonly #pool: pg.Pool;
  readonly #gateway: string;
  readonly #batch: number;
  readonly #intervalMs: number;
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | null = null;
  /** The highest `n` the table holds for this gateway (null: to be read). */
  #cursor: number | null = null;
  readonly #reader: ChainReader;
  #queue: Promise<unknown> = Promise.resolve();
  #scheduled = false;
  #failing = false;
  #retryAt = 0;
  #closed = false;

  private constructor(pool: pg.Pool, o: PgAuditShipperOptions) {
    this.#pool = pool;
    this.#gateway = o.gatewayId;
    this.#reader = new ChainReader(o.dir);
    this.#batch = o.batch ?? DEFAULT_AUDIT_SHIP_BATCH;
    this.#intervalMs = o.intervalMs ?? DEFAULT_AUDIT_SHIP_MS;
    this.#onError = o.onError ?? (() => {});
  }

  /**
   * Connects (migrating the shared schema) and starts shipping from the cursor.
   * @throws {SharedStateError} `shared_unavailable` when the database cannot be used now
   * @throws {RangeError} for a batch outside 1..1000 or an interval under 10 ms
   */
  static async open(o: PgAuditShipperOptions): Promise<PgAuditShipper> {
    if (o.batch !== undefined && (!Number.isSafeInteger(o.batch) || o.batch < 1 || o.batch > 1000))
      throw new RangeError('PgAuditShipper: batch must be 1..1000');
    if (o.intervalMs !== undefined && (!Number.isFinite(o.intervalMs) || o.intervalMs < 10))
      throw new RangeError('PgAuditShipper: intervalMs must be >= 10');
    const s = new PgAuditShipper(await openSharedPool({ ...o, max: 1 }), o);
    s.#timer = setInterval(() => s.nudge(), s.#intervalMs);
    s.#timer.unref();
    s.nudge();
    return s;
  }

  /** The highest `n` of this gateway known to be in the table (null before the first read). */
  get shipped(): number | null {
    return this.#cursor;
  }

  /** Ships what the file log holds beyond the cursor, soon (coalesced; a failure is retried). */
  nudge(): void {
    if (this.#closed || this.#scheduled || Date.now() < this.#retryAt) return;
    this.#scheduled = true;
    this.#serial(() => {
      this.#scheduled = false;
      return this.#drain();
    }).then(
      () => {
        this.#failing = false;
      },
      (err) => {
        if (!this.#failing) this.#onError(err);
        this.#failing = true;
      },
    );
  }

  /**
   * Ships everything the file log holds now.
   * @throws {SharedStateError} `shared_unavailable`; {AuditError} `audit_corrupt` at a line without a number
   */
  async flush(): Promise<void> {
    await this.#serial(() => this.#drain());
    this.#failing = false;
  }

  /**
   * Stops the poll, ships what is left (a failure goes to `onError`) and closes the pool,
   * within the pool's `closeTimeoutMs`: what is not shipped by then stays in the file log,
   * the record, and is shipped from the cursor at the next start.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    let told = false;
    const tell = (err: unknown): void => {
      if (!told) this.#onError(err);
      told = true;
    };
    const last = (): Promise<void> => this.#serial(() => this.#drain()).catch(tell);
    if (!(await closeSharedPool(this.#pool, last)))
      tell(
        new SharedStateError(
          'shared_unavailable',
          'the group audit: the last lines were not shipped in time',
        ),
      );
  }

  /** Runs `fn` after every shipping before it: one at a time. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(fn);
    this.#queue = p.catch(() => {});
    return p;
  }

  async #drain(): Promise<void> {
    try {
      while ((await this.#shipBatch()) >= this.#batch) {}
      this.#retryAt = 0;
    } catch (err) {
      this.#cursor = null; // a commit may or may not have happened: read it again
      this.#retryAt = Date.now() + this.#intervalMs / 2;
      throw err instanceof AuditError ? err : unavailable('the group audit', err);
    }
  }

  async #maxN(q: pg.Pool | pg.PoolClient): Promise<number> {
    const r = await q.query<{ n: string | null }>('SELECT max(n) AS n FROM ward_audit WHERE gateway = $1', [
      this.#gateway,
    ]);
    return Number(r.rows[0]?.n ?? 0);
  }

  /** One transaction of at most `batch` lines; returns how many (`batch`: go on at once). */
  async #shipBatch(): Promise<number> {
    this.#cursor ??= await this.#maxN(this.#pool);
    const from = this.#cursor + 1;
    const lines = this.#reader.read(from, this.#batch);
    const last = lines.at(-1);
    if (!last) return 0;
    const client = await this.#pool.connect();
    // A connection dropped while checked out emits here (the pool listens to idle ones only).
    const dropped = (): void => {};
    client.on('error', dropped);
    let failed: unknown;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
      const held = await this.#maxN(client);
      if (held !== this.#cursor) {
        await client.query('ROLLBACK');
        this.#cursor = held;
        return this.#batch;
      }
      const head = await client.query<{ id: string; hash: string }>(
        'SELECT id, hash FROM ward_audit ORDER BY id DESC LIMIT 1',
      );
      let id = Number(head.rows[0]?.id ?? 0);
      let prev = head.rows[0]?.hash ?? ZERO_HASH_HEX;
      const params: unknown[] = [];
      const values: string[] = [];
      for (const l of lines) {
        id += 1;
        const row = { id, gateway: this.#gateway, n: l.n, lineHash: sha256Hex(l.bytes), prev };
        prev = groupHash(row);
        const k = params.push(id, row.gateway, l.n, l.bytes.toString('utf8'), row.lineHash, row.prev, prev);
        values.push(`($${k - 6}, $${k - 5}, $${k - 4}, $${k - 3}, $${k - 2}, $${k - 1}, $${k})`);
      }
      await client.query(`INSERT INTO ward_audit (${ROW_COLUMNS}) VALUES ${values.join(', ')}`, params);
      await client.query('COMMIT');
      this.#cursor = last.n;
      return lines.length;
    } catch (err) {
      failed = (await rollBack(client, err)) ?? err; // a failed connection is not reused
      throw err;
    } finally {
      client.off('error', dropped);
      client.release(failed instanceof Error ? failed : undefined);
    }
  }
}
