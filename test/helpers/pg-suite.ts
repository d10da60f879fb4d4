/**
 * @module test/helpers/pg-suite
 * One real PostgreSQL (test/helpers/postgres) per test file, for the suites of the state a
 * gateway group shares (io/shared): started before the file's tests, stopped after them,
 * with a plain client for what a gateway never does (a manual edit, a dropped constraint).
 * Each test takes a fresh database of it (`server().createDatabase()`).
 */
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { poolConfig } from '../../gateway/src/io/shared/index.js';
import { type RunningPostgres, startPostgres } from './postgres.js';

export interface PostgresSuite {
  /** The running server (only inside tests and hooks: it starts in `beforeAll`). */
  server(): RunningPostgres;
  /** One statement on a database of the server, by a plain client of its own. */
  sql(url: string, text: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** A plain client of its own, connected, for a session that spans statements (the caller ends it). */
  connect(url: string): Promise<pg.Client>;
}

/**
 * Registers `beforeAll` (start) and `afterAll` (stop) where it is called.
 * @example const { server, sql } = usePostgres(); … const url = await server().createDatabase();
 */
export function usePostgres(): PostgresSuite {
  let running: RunningPostgres | undefined;
  const server = (): RunningPostgres => running as RunningPostgres;
  beforeAll(async () => {
    running = await startPostgres();
  });
  afterAll(async () => {
    await running?.stop();
  });
  const connect = async (url: string): Promise<pg.Client> => {
    const c = new pg.Client(poolConfig({ url, password: server().password }));
    await c.connect();
    return c;
  };
  return {
    server,
    connect,
    async sql(url, text, params = []) {
      const c = await connect(url);
      try {
        return await c.query(text, params);
      } finally {
        await c.end();
      }
    },
  };
}
