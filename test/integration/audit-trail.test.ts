/**
 * @module test/integration/audit-trail
 * The abstract audit-trail suite (audit-trail-abstract.ts) against a gateway's own file log
 * (io/ops `FileAuditTrail`) and a gateway group's chain in PostgreSQL (io/shared
 * `PgAuditTrail`, fed by `PgAuditShipper`; a real server: test/helpers/pg-suite), then what
 * only the group's chain does (issue 16, "the audit of views", shared):
 * - two gateways shipping at once make one valid chain holding both logs whole, which an
 *   auditor can recompute with SQL alone (the README's definition of `hash`);
 * - a restarted shipper resumes at its cursor: nothing shipped twice, nothing lost;
 * - while the database is away (a cut TCP link) the file log goes on and the failure is told
 *   once; when it is back the backlog is shipped;
 * - rotated files are shipped across the rotation, as one run of `n`;
 * - a file line edited after shipping is told by the cross-check;
 * - `vitaltrail audit verify --shared --config FILE` (the built CLI) prints each gateway's
 *   rows and the head, exit 0 intact, 1 not;
 * - a group gateway (in-process, from its options) ships its own audit log as it runs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway } from '../../gateway/src/app/gateway.js';
import { listArchives } from '../../gateway/src/io/ops/audit-rotation.js';
import {
  AuditLog,
  dataPaths,
  FileAuditTrail,
  rotateAuditLog,
  verifyAuditLog,
} from '../../gateway/src/io/ops/index.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { PgAuditShipper, PgAuditTrail } from '../../gateway/src/io/shared/index.js';
import { runCli } from '../helpers/cli.js';
import { closedAfterEach } from '../helpers/contract.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { makeTempDir } from '../helpers/tmp.js';
import { type AuditEventSpec, describeAuditTrail, editedLine } from './audit-trail-abstract.js';

const temps: { cleanup(): void }[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) t.cleanup();
});
const tempDir = (): string => {
  const t = makeTempDir('vt-audit-trail-');
  temps.push(t);
  return t.dir;
};

/** The active file's lines, rewritten by `change` (a tamperer with the disk). */
function rewriteLog(dir: string, change: (lines: string[]) => void): void {
  const path = join(dir, 'audit.log');
  const lines = readFileSync(path, 'utf8').split('\n').slice(0, -1);
  change(lines);
  writeFileSync(path, `${lines.map((l) => `${l}\n`).join('')}`);
}

/** The file log's verdict and line count. */
function verifyFile(dir: string): { ok: boolean; entries: number } {
  const r = verifyAuditLog(dir);
  return { ok: r.ok, entries: r.lines };
}

const appendAll = (audit: AuditLog, events: readonly AuditEventSpec[]): void => {
  for (const e of events) audit.append(e.event, e.fields);
  audit.flush();
};

describeAuditTrail('FileAuditTrail (the gateway audit log)', async () => {
  const dir = tempDir();
  const audit = new AuditLog(dir);
  return {
    trail: new FileAuditTrail(dir, 'gw-a'),
    append: async (events) => appendAll(audit, events),
    edit: async (seq) =>
      rewriteLog(dir, (l) => {
        l[seq - 1] = editedLine(l[seq - 1] as string);
      }),
    remove: async (seq) => rewriteLog(dir, (l) => l.splice(seq - 1, 1)),
    swap: async (seq) =>
      rewriteLog(dir, (l) => {
        [l[seq - 1], l[seq]] = [l[seq] as string, l[seq - 1] as string];
      }),
    close: async () => audit.close(),
  };
});

const { server, sql } = usePostgres();
const closedAfter = closedAfterEach<{ close(): Promise<void> }>();
const pgOf = (url: string) => ({ url, password: server().password });

/** A gateway's audit log in a fresh dir, with its shipper cued by every batch (as wired). */
async function gatewayLog(
  url: string,
  gatewayId: string,
  o: { batch?: number; rotateBytes?: number; dir?: string } = {},
) {
  const dir = o.dir ?? tempDir();
  const audit = new AuditLog(dir, o.rotateBytes ? { rotateBytes: o.rotateBytes } : {});
  const open = async () => {
    const s = closedAfter(
      await PgAuditShipper.open({
        ...pgOf(url),
        gatewayId,
        dir,
        intervalMs: 50,
        ...(o.batch ? { batch: o.batch } : {}),
      }),
    ) as PgAuditShipper;
    audit.onWritten(() => s.nudge());
    return s;
  };
  return { dir, audit, open };
}

const events = (k: number, dev = 'wr-0001'): AuditEventSpec[] =>
  Array.from({ length: k }, (_, i) => ({
    event: 'patient_view' as const,
    fields: { user: 'nurse.kim', dev, detail: `/api/patients/:dev #${i}` },
  }));

describeAuditTrail('PgAuditTrail (the group chain in PostgreSQL)', async () => {
  const url = await server().createDatabase();
  const log = await gatewayLog(url, 'gw-a');
  const shipper = await log.open();
  const trail = closedAfter(await PgAuditTrail.open(pgOf(url))) as PgAuditTrail;
  const BIG = 1_000_000_000;
  return {
    trail,
    append: async (evs) => {
      appendAll(log.audit, evs);
      await shipper.flush();
    },
    edit: async (seq) => {
      const row = await sql(url, 'SELECT line FROM ward_audit WHERE id = $1', [seq]);
      await sql(url, 'UPDATE ward_audit SET line = $2 WHERE id = $1', [seq, editedLine(row.rows[0].line)]);
    },
    remove: async (seq) => void (await sql(url, 'DELETE FROM ward_audit WHERE id = $1', [seq])),
    swap: async (seq) => {
      await sql(url, 'UPDATE ward_audit SET id = $2 WHERE id = $1', [seq, BIG]);
      await sql(url, 'UPDATE ward_audit SET id = $2 WHERE id = $1', [seq + 1, seq]);
      await sql(url, 'UPDATE ward_audit SET id = $2 WHERE id = $1', [BIG, seq + 1]);
    },
    close: async () => log.audit.close(),
  };
});

/** The README's recomputation of the chain in SQL alone: each row's ok. */
const AUDITOR_SQL = `SELECT id, line_hash = encode(sha256(convert_to(line, 'UTF8')), 'hex')
    AND prev = coalesce(lag(hash) OVER (ORDER BY id), repeat('0', 64))
    AND hash = encode(sha256(convert_to(prev || E'\\n' || id || E'\\n' || gateway || E'\\n' || n
      || E'\\n' || line_hash, 'UTF8')), 'hex') AS ok
  FROM ward_audit ORDER BY id`;

async function auditorCheck(url: string): Promise<{ rows: number; bad: number }> {
  const r = await sql(
    url,
    `SELECT count(*)::int AS rows, (count(*) FILTER (WHERE NOT ok))::int AS bad FROM (${AUDITOR_SQL}) x`,
  );
  return r.rows[0];
}

async function rowCount(url: string, gateway: string): Promise<number> {
  return (await sql(url, 'SELECT count(*)::int AS k FROM ward_audit WHERE gateway = $1', [gateway])).rows[0]
    .k;
}

/** Waits until `fn` resolves true (every 20 ms). */
async function eventually(fn: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the group audit chain in PostgreSQL (ward_audit)', () => {
  it('behavior: two gateways shipping at once make one valid chain holding both logs whole; SQL alone recomputes it', async () => {
    const url = await server().createDatabase();
    const [a, b] = [
      await gatewayLog(url, 'gw-a', { batch: 25 }),
      await gatewayLog(url, 'gw-b', { batch: 25 }),
    ];
    const shippers = await Promise.all([a.open(), b.open()]);
    for (let round = 0; round < 8; round += 1) {
      appendAll(a.audit, events(30, 'wr-0001'));
      appendAll(b.audit, events(30, 'wr-0002'));
      await Promise.all(shippers.map((s) => s.flush()));
    }
    const trail = closedAfter(await PgAuditTrail.open(pgOf(url))) as PgAuditTrail;
    expect(await trail.verify()).toMatchObject({
      ok: true,
      entries: 480,
      problems: [],
      gateways: [
        { gateway: 'gw-a', rows: 240, first: 1, last: 240 },
        { gateway: 'gw-b', rows: 240, first: 1, last: 240 },
      ],
      head: { id: 480 },
    });
    const firstRound = await sql(
      url,
      'SELECT gateway, count(*)::int AS k FROM ward_audit WHERE id <= 60 GROUP BY gateway ORDER BY gateway',
    );
    expect(firstRound.rows).toEqual([
      { gateway: 'gw-a', k: 30 },
      { gateway: 'gw-b', k: 30 },
    ]);
    expect(await auditorCheck(url)).toEqual({ rows: 480, bad: 0 });
    for (const [g, log] of [
      ['gw-a', a],
      ['gw-b', b],
    ] as const)
      expect(await trail.crossCheck(g, log.dir)).toMatchObject({
        ok: true,
        entries: 240,
        matched: 240,
        unshipped: 0,
      });
    // The SQL check sees a tampered row too.
    // (A row of gw-b's, whose lines name wr-0002: which ids are whose depends on the race.)
    await sql(
      url,
      `UPDATE ward_audit SET line = replace(line, 'wr-0002', 'wr-0009')
       WHERE id = (SELECT id FROM ward_audit WHERE gateway = 'gw-b' ORDER BY id OFFSET 50 LIMIT 1)`,
    );
    expect(await auditorCheck(url)).toEqual({ rows: 480, bad: 1 });
  });

  it('behavior: a restarted shipper resumes at its cursor: nothing shipped twice, nothing lost', async () => {
    const url = await server().createDatabase();
    const log = await gatewayLog(url, 'gw-a', { batch: 7 });
    const first = await log.open();
    appendAll(log.audit, events(30));
    await first.flush();
    expect(first.shipped).toBe(30);
    await first.close();
    appendAll(log.audit, events(12));
    expect(await rowCount(url, 'gw-a')).toBe(30);
    const second = await log.open();
    await second.flush();
    expect(second.shipped).toBe(42);
    await second.close();
    const third = await log.open();
    await third.flush();
    expect(third.shipped).toBe(42);
    const trail = closedAfter(await PgAuditTrail.open(pgOf(url))) as PgAuditTrail;
    expect(await trail.verify()).toMatchObject({
      ok: true,
      entries: 42,
      gateways: [{ gateway: 'gw-a', rows: 42, first: 1, last: 42 }],
    });
    expect(await trail.crossCheck('gw-a', log.dir)).toMatchObject({ ok: true, matched: 42, unshipped: 0 });
  });

  it('error: while the database is away the file log goes on and the failure is told once; back, the backlog is shipped', async () => {
    const url = await server().createDatabase();
    const proxy: TcpProxy = closedAfter(await startTcpProxy(server().port)) as TcpProxy;
    const viaProxy = url.replace(`:${server().port}/`, `:${proxy.port}/`);
    const dir = tempDir();
    const audit = new AuditLog(dir);
    const errors: unknown[] = [];
    const shipper = closedAfter(
      await PgAuditShipper.open({
        ...pgOf(viaProxy),
        gatewayId: 'gw-a',
        dir,
        intervalMs: 50,
        onError: (e) => errors.push(e),
      }),
    ) as PgAuditShipper;
    audit.onWritten(() => shipper.nudge());
    appendAll(audit, events(10));
    await shipper.flush();
    proxy.cut();
    for (let i = 0; i < 5; i += 1) {
      appendAll(audit, events(5));
      await new Promise((r) => setTimeout(r, 60));
    }
    await eventually(async () => errors.length > 0, 5000, 'the failure told');
    await expect(shipper.flush()).rejects.toMatchObject({ code: 'shared_unavailable' });
    expect(verifyFile(dir)).toMatchObject({ ok: true, entries: 35 });
    expect(await rowCount(url, 'gw-a')).toBe(10);
    await new Promise((r) => setTimeout(r, 300)); // retried meanwhile, told no more
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'shared_unavailable' });
    proxy.restore();
    await eventually(async () => (await rowCount(url, 'gw-a')) === 35, 5000, 'the backlog shipped');
    const trail = closedAfter(await PgAuditTrail.open(pgOf(url))) as PgAuditTrail;
    expect(await trail.verify()).toMatchObject({ ok: true, entries: 35 });
    expect(await trail.crossCheck('gw-a', dir)).toMatchObject({ ok: true, matched: 35, unshipped: 0 });
    expect(errors).toHaveLength(1);
  });

  it('behavior: rotated files are shipped across the rotation, as one run of n (a backlog of archives, then rotations while shipping)', async () => {
    const url = await server().createDatabase();
    const log = await gatewayLog(url, 'gw-a', { batch: 8, rotateBytes: 2500 });
    for (let i = 0; i < 6; i += 1) appendAll(log.audit, events(5));
    expect(listArchives(log.dir).length).toBeGreaterThanOrEqual(2);
    const shipper = await log.open();
    await shipper.flush();
    for (let i = 0; i < 6; i += 1) {
      appendAll(log.audit, events(5));
      if (i === 2) rotateAuditLog(log.dir);
      await shipper.flush();
    }
    const lines = verifyFile(log.dir).entries;
    expect(listArchives(log.dir).length).toBeGreaterThanOrEqual(5);
    const trail = closedAfter(await PgAuditTrail.open(pgOf(url))) as PgAuditTrail;
    const r = await trail.verify();
    expect(r).toMatchObject({
      ok: true,
      entries: lines,
      gateways: [{ gateway: 'gw-a', rows: lines, first: 1, last: lines }],
    });
    const rotated = await sql(
      url,
      `SELECT count(*)::int AS k FROM ward_audit WHERE line LIKE '%"event":"audit_rotated"%'`,
    );
    expect(rotated.rows[0].k).toBe(listArchives(log.dir).length);
    expect(await trail.crossCheck('gw-a', log.dir)).toMatchObject({ ok: true, matched: lines, unshipped: 0 });
  });

  it('error: a file line edited after it was shipped is told by the cross-check (chain_broken), the group chain intact', async () => {
    const url = await server().createDatabase();
    const log = await gatewayLog(url, 'gw-a');
    const shipper = await log.open();
    appendAll(log.audit, events(8));
    await shipper.close(); // the two lines after stay unshipped
    rewriteLog(log.dir, (l) => {
      l[4] = editedLine(l[4] as string);
    });
    appendAll(log.audit, events(2));
    const trail = closedAfter(await PgAuditTrail.open(pgOf(url))) as PgAuditTrail;
    expect((await trail.verify()).ok).toBe(true);
    expect(await trail.crossCheck('gw-a', log.dir)).toMatchObject({
      ok: false,
      entries: 8,
      matched: 7,
      unshipped: 2,
      problems: [{ n: 5, code: 'chain_broken' }],
    });
  });
});

describe('audit verify --shared, and a group gateway shipping its own log', () => {
  it('behavior: `vitaltrail audit verify --shared --config FILE` prints each gateway and the head, exit 0; a deleted row exits 1 naming it', async () => {
    const url = await server().createDatabase();
    const home = tempDir();
    const a = await gatewayLog(url, 'gw-a', { dir: dataPaths(home).gatewayDir });
    const b = await gatewayLog(url, 'gw-b');
    const [sa, sb] = await Promise.all([a.open(), b.open()]);
    appendAll(a.audit, events(4));
    await sa.flush();
    appendAll(b.audit, events(3));
    await sb.flush();
    const pwFile = join(home, 'pg-password');
    writeFileSync(pwFile, `${server().password}\n`, { mode: 0o600 });
    const cfg = join(home, 'gw-a.json');
    // The config's dataDir is gw-a's: DATA/gateway holds the log shipped as gw-a.
    writeFileSync(
      cfg,
      JSON.stringify({
        dataDir: home,
        gatewayId: 'gw-a',
        shared: { postgres: { url, passwordFile: pwFile } },
      }),
    );
    const ok = await runCli(['audit', 'verify', '--shared', '--config', cfg, '--cross-check']);
    expect(ok.code).toBe(0);
    const head = (await sql(url, 'SELECT hash FROM ward_audit WHERE id = 7')).rows[0].hash;
    expect(ok.stdout).toBe(
      `intact: 7 row(s) of 2 gateway(s) in ward_audit\n  gw-a: 4 row(s), n 1-4\n  gw-b: 3 row(s), n 1-3\n  head: id 7 hash ${head}\n` +
        '  cross-check gw-a: 4 of 4 row(s) match its file log; 0 line(s) not shipped yet\n',
    );
    await sql(url, 'DELETE FROM ward_audit WHERE id = 3');
    const bad = await runCli(['audit', 'verify', '--shared', '--config', cfg, '--json']);
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout).shared;
    expect(report).toMatchObject({ ok: false, entries: 6 });
    expect(report.problems).toContainEqual(expect.objectContaining({ id: 4, code: 'out_of_sequence' }));
    const usage = await runCli(['audit', 'verify', '--shared']);
    expect(usage.code).toBe(2);
  });

  it('behavior: a gateway of a group ships its audit log as it runs (its start line within 2 s), the file log and rows agreeing', async () => {
    const url = await server().createDatabase();
    const paths = await prepareDataDir(join(tempDir(), 'gw-a'), []);
    const gw = await startGateway({
      dataDir: paths.root,
      gatewayId: 'gw-a',
      logger: silentLogger,
      shared: { postgres: pgOf(url) },
    });
    const started = () =>
      sql(
        url,
        `SELECT count(*)::int AS k FROM ward_audit WHERE gateway = 'gw-a' AND line LIKE '%"event":"gateway_started"%'`,
      );
    try {
      await eventually(async () => (await started()).rows[0].k === 1, 2000, 'gateway_started shipped');
    } finally {
      await gw.stop();
    }
    const trail = closedAfter(await PgAuditTrail.open(pgOf(url))) as PgAuditTrail;
    expect(await trail.verify()).toMatchObject({ ok: true });
    // gateway_stopped is written after the shipper's last flush: shipped at the next start.
    expect(await trail.crossCheck('gw-a', paths.gatewayDir)).toMatchObject({ ok: true, unshipped: 1 });
  });
});
