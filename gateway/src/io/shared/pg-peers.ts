/**
 * @module io/shared/pg-peers
 * The gateways of a group and where their dashboards' APIs are reached (issue 16: "trends
 * and history across gateways … by asking each gateway"): the table `ward_gateways`
 * (io/shared/schema; every statement on it is here). Each gateway registers its URL at start
 * and every `HEARTBEAT_MS` after, and removes itself when it stops; a gateway is a peer while
 * its last heartbeat is at most `PEER_STALE_MS` old (one that died stops being asked within
 * that time).
 */
import type pg from 'pg';
import {
  closeSharedPool,
  endSharedPool,
  openSharedPool,
  type SharedPostgresOptions,
  sharedQuery,
} from './postgres.js';

export const HEARTBEAT_MS = 5000;
export const PEER_STALE_MS = 15_000;

/** Another gateway of the group. */
export interface Peer {
  gatewayId: string;
  /** Its dashboard's base URL (`http://gateway-2:8080`). */
  url: string;
}

export interface PgPeersOptions extends SharedPostgresOptions {
  gatewayId: string;
  /** This gateway's dashboard URL as the other gateways reach it. */
  peerUrl: string;
  now?: () => number;
}

export class PgPeers {
  readonly #pool: pg.Pool;
  readonly #o: PgPeersOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  private constructor(pool: pg.Pool, o: PgPeersOptions) {
    this.#pool = pool;
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /**
   * Connects, migrates, registers this gateway and starts its heartbeat.
   * @throws {SharedStateError} `shared_unavailable`
   */
  static async open(o: PgPeersOptions): Promise<PgPeers> {
    const pool = await openSharedPool(o);
    const p = new PgPeers(pool, o);
    try {
      await p.#beat();
    } catch (err) {
      await endSharedPool(pool);
      throw err;
    }
    p.#timer = setInterval(() => void p.#beat().catch(() => {}), HEARTBEAT_MS);
    p.#timer.unref();
    return p;
  }

  /** The other gateways heard from lately, by id. @throws {SharedStateError} */
  async peers(): Promise<Peer[]> {
    const r = await this.#query(
      'SELECT gateway_id, url FROM ward_gateways WHERE gateway_id <> $1 AND seen_at >= $2 ORDER BY gateway_id',
      [this.#o.gatewayId, this.#now() - PEER_STALE_MS],
    );
    return r.rows.map((row) => ({ gatewayId: row.gateway_id as string, url: row.url as string }));
  }

  /** Stops the heartbeat and removes this gateway (the others stop asking it at once). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await closeSharedPool(this.#pool, () =>
      this.#query('DELETE FROM ward_gateways WHERE gateway_id = $1', [this.#o.gatewayId]),
    );
  }

  async #beat(): Promise<void> {
    await this.#query(
      `INSERT INTO ward_gateways (gateway_id, url, seen_at) VALUES ($1, $2, $3)
       ON CONFLICT (gateway_id) DO UPDATE SET url = excluded.url, seen_at = excluded.seen_at`,
      [this.#o.gatewayId, this.#o.peerUrl, this.#now()],
    );
  }

  #query(sql: string, params: unknown[]): Promise<pg.QueryResult<Record<string, unknown>>> {
    return sharedQuery(this.#pool, "the group's gateways", sql, params);
  }
}
