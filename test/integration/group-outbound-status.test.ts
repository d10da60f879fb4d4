/**
 * @module test/integration/group-outbound-status
 * `vitaltrail outbound status` and the `/metrics` outbound gauges of a group's gateway (issue
 * 16 with issue 19): the alarm webhook of a gateway of a group sends the transitions that
 * gateway recorded in the group's alarm ledger (io/interfaces `AlarmSource`), so its backlog
 * is counted there, not in its data directory (which holds none of the group's transitions:
 * before, the status said 0 pending however many waited). On a real PostgreSQL, with a real
 * data directory and a gateway config file naming both:
 * - the pending count is the transitions this gateway recorded behind its cursor, never the
 *   other gateway's, and the oldest one's age is that of its oldest;
 * - once the cursor passes them nothing is pending;
 * - `--config FILE` finds the data directory, the gateway id and the group's database
 *   (`vitaltrail outbound status --config FILE`, the built CLI: `npm run build`).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gatewaySourceOf } from '../../gateway/src/cli/gateway-config.js';
import { outboundStatus } from '../../gateway/src/cli/outbound.js';
import type { Alarm, AlarmTransition } from '../../gateway/src/core/alarms/index.js';
import { DeliveryState } from '../../gateway/src/io/interfaces/delivery-state.js';
import { dataPaths } from '../../gateway/src/io/ops/index.js';
import { PgAlarms } from '../../gateway/src/io/shared/index.js';
import { openStore } from '../../gateway/src/io/store/index.js';
import { runCli } from '../helpers/cli.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { makeTempDir } from '../helpers/tmp.js';

const T = Date.UTC(2026, 11, 3, 9, 0, 0);
const { server } = usePostgres();
const tmp = makeTempDir('vt-group-outbound-');
afterAll(() => tmp.cleanup());

/** A raise of `code` on `scope` at `at`, as a board proposes it. */
function raised(scope: string, code: string, at: number): AlarmTransition {
  const alarm: Alarm = {
    id: randomUUID(),
    scope,
    code,
    kind: 'physiological',
    priority: 'medium',
    basePriority: 'medium',
    value: 85,
    limit: 90,
    triggerValue: 85,
    state: 'active',
    latched: false,
    raisedAt: at,
    updatedAt: at,
    ackBy: null,
    ackAt: null,
    ackComment: null,
    clearedAt: null,
    escalations: 0,
    notifiedAt: at,
  };
  return { type: 'raised', alarm, at };
}

describe("a group gateway's alarm webhook backlog", () => {
  it("counts the transitions this gateway recorded in the group's ledger, from its config file", async () => {
    const url = await server().createDatabase();
    const a = await PgAlarms.open({ url, password: server().password, gatewayId: 'gw-a' });
    const b = await PgAlarms.open({ url, password: server().password, gatewayId: 'gw-b' });
    try {
      // gw-a records event 1 and 3, gw-b event 2 (and one gw-a raise lost to gw-b's).
      expect(await a.record(raised('wr-0001', 'spo2_low', T), null)).toMatchObject({
        recorded: true,
        eventId: 1,
      });
      expect(await b.record(raised('wr-0002', 'hr_high', T + 1000), null)).toMatchObject({ recorded: true });
      expect(await a.record(raised('wr-0002', 'hr_high', T + 1000), null)).toMatchObject({ recorded: false });
      expect(await a.record(raised('wr-0003', 'rr_high', T + 2000), null)).toMatchObject({ eventId: 3 });

      // gw-a's data directory: a webhook cursor that has sent nothing yet.
      const dir = join(tmp.dir, 'gw-a');
      mkdirSync(join(dir, 'gateway'), { recursive: true, mode: 0o700 });
      const store = openStore(dataPaths(dir).db);
      new DeliveryState(store).cursor('webhook', 1, 'alarms');
      store.close();
      const pwFile = join(tmp.dir, 'pg-password');
      writeFileSync(pwFile, `${server().password}\n`, { mode: 0o600 });
      const cfgFile = join(tmp.dir, 'gw-a.json');
      writeFileSync(
        cfgFile,
        JSON.stringify({
          dataDir: dir,
          gatewayId: 'gw-a',
          shared: { postgres: { url, passwordFile: pwFile } },
        }),
      );

      const source = gatewaySourceOf({ config: cfgFile, data: 'unused' });
      expect(source).toMatchObject({ dataDir: dir, gatewayId: 'gw-a', postgres: { url } });
      const now = T + 62_000;
      const [hook] = await outboundStatus(source, now);
      expect(hook).toMatchObject({ receiver: 'webhook', pending: 2, oldestPendingSeconds: 62 });
      // The command, as an engineer types it beside the running gateway.
      const cli = await runCli(['outbound', 'status', '--config', cfgFile, '--json']);
      expect(cli.stderr).toBe('');
      expect(JSON.parse(cli.stdout)).toMatchObject([{ receiver: 'webhook', pending: 2 }]);
      // The data directory alone knows none of the group's transitions (what it said before).
      expect((await outboundStatus(dir, now))[0]).toMatchObject({ pending: 0, oldestPendingSeconds: null });

      // Past event 1: gw-b's event 2 is not this gateway's to send; event 3 waits.
      const s2 = openStore(dataPaths(dir).db);
      new DeliveryState(s2).advance('webhook', 2, 1, now);
      s2.close();
      expect((await outboundStatus(source, now))[0]).toMatchObject({ pending: 1, oldestPendingSeconds: 60 });
      const s3 = openStore(dataPaths(dir).db);
      new DeliveryState(s3).advance('webhook', 4, 1, now);
      s3.close();
      expect((await outboundStatus(source, now))[0]).toMatchObject({
        pending: 0,
        oldestPendingSeconds: null,
      });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
