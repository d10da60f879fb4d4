/**
 * @module test/integration/shared-hang
 * The group's PostgreSQL hung (a real server frozen with SIGSTOP on its postmaster and its
 * backends: the kernel still accepts and acknowledges, nothing answers; thawed with SIGCONT
 * in a `finally`): a statement fails within the query bound with `shared_unavailable`
 * (io/shared/postgres `queryTimeoutMs`), and a gateway of the group stops within the close
 * bounds of its shared parts (`closeTimeoutMs` each) instead of waiting for the server. An
 * audit line written while the server hung, unshipped at the stop, stays in the gateway's
 * file log and reaches `ward_audit` once the gateway runs again with the server back.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../gateway/src/app/gateway.js';
import type { RunningGateway } from '../../gateway/src/app/options.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { PgAlarms } from '../../gateway/src/io/shared/index.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { call } from '../helpers/http-client.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { freezePostgres } from '../helpers/postgres.js';
import { makeTempDir } from '../helpers/tmp.js';

const QUERY_MS = 500;
const CLOSE_MS = 1000;
/** The shared parts a gateway closes (accounts, audit shipper, alarm ledger and settings, admissions, sessions, peers). */
const PARTS = 7;
/** A close is its bound plus the sockets' destruction; a loaded runner gets 1 s more for the whole stop. */
const STOP_BOUND_MS = PARTS * (CLOSE_MS + 100) + 1000;

/** `p`'s outcome, or 'pending' when it is still unsettled after `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  try {
    return await Promise.race([
      p.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `fn()` resolves true; checked every 100 ms. */
async function eventually(fn: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the shared PostgreSQL hung (frozen with SIGSTOP)', () => {
  const { server, sql } = usePostgres();
  const tmp = makeTempDir('vt-shared-hang-');
  afterAll(() => tmp.cleanup());

  it('error: a statement on the frozen server fails within queryTimeoutMs with shared_unavailable; it works again once thawed', async () => {
    const url = await server().createDatabase();
    const ledger = await PgAlarms.open({
      url,
      password: server().password,
      gatewayId: 'gw-a',
      queryTimeoutMs: QUERY_MS,
      closeTimeoutMs: CLOSE_MS,
    });
    try {
      expect(await ledger.lastEventId()).toBe(0); // a connection of the pool is open and idle
      const thaw = freezePostgres(server());
      let outcome: Awaited<ReturnType<typeof within>>;
      const t0 = Date.now();
      try {
        outcome = await within(ledger.lastEventId(), QUERY_MS + 3000);
      } finally {
        thaw();
      }
      const took = Date.now() - t0;
      expect(outcome).not.toBe('pending');
      const err = (outcome as { error: Error & { code?: string } }).error;
      expect(err?.code).toBe('shared_unavailable');
      expect(err.message).toContain('query_timeout');
      expect(took).toBeGreaterThanOrEqual(QUERY_MS - 50);
      expect(took).toBeLessThan(QUERY_MS + 1500);
      await eventually(
        async () => (await ledger.lastEventId().catch(() => -1)) === 0,
        10_000,
        'the ledger answers once the server is thawed',
      );
    } finally {
      await ledger.close();
    }
  }, 30_000);

  it('error: a gateway stops within its shared parts’ close bounds while the server is frozen; the audit line written meanwhile reaches ward_audit after a restart', async () => {
    const url = await server().createDatabase();
    const paths = await prepareDataDir(join(tmp.dir, 'gw-a'), []);
    const start = (): Promise<RunningGateway> =>
      startGateway({
        dataDir: paths.root,
        gatewayId: 'gw-a',
        logger: silentLogger,
        shared: {
          postgres: { url, password: server().password, queryTimeoutMs: QUERY_MS, closeTimeoutMs: CLOSE_MS },
        },
      }) as Promise<RunningGateway>;
    const shippedFailures = async (): Promise<number> =>
      Number(
        (
          await sql(
            url,
            "SELECT count(*) AS n FROM ward_audit WHERE gateway = 'gw-a' AND line LIKE '%login_failed%'",
          )
        ).rows[0]?.n,
      );

    let gw: RunningGateway | null = await start();
    const admin = readFileSync(paths.initialAdminPassword, 'utf8').trim();
    expect(
      (await call(gw.http.url, 'POST', '/api/login', undefined, { username: 'admin', password: admin }))
        .status,
    ).toBe(200);
    const thaw = freezePostgres(server());
    let stopped: Awaited<ReturnType<typeof within>>;
    let took: number;
    try {
      // Sign-in failures are judged on the accounts as last seen, and audited in the file log.
      const refused = await call(gw.http.url, 'POST', '/api/login', undefined, {
        username: 'admin',
        password: 'not-the-password-1',
      });
      expect(refused.status).toBe(401);
      const t0 = Date.now();
      stopped = await within(gw.stop(), STOP_BOUND_MS + 10_000);
      took = Date.now() - t0;
    } finally {
      thaw();
    }
    if (stopped === 'pending') await gw.stop(); // the code before: it ends only once the server answers
    gw = null;
    expect(stopped).not.toBe('pending');
    expect(took).toBeLessThan(STOP_BOUND_MS);
    expect(readFileSync(join(paths.gatewayDir, 'audit.log'), 'utf8')).toContain('login_failed');
    expect(await shippedFailures()).toBe(0);

    gw = await start();
    try {
      await eventually(
        async () => (await shippedFailures()) === 1,
        10_000,
        'the kept line is shipped after the restart',
      );
    } finally {
      await gw.stop();
    }
  }, 90_000);
});
