/**
 * @module cli/outbound
 * `vitaltrail outbound status --data DIR [--json]`: the state of each outbound interface
 * (issue 19) as an integration engineer checks it: readings pending, the age of the oldest
 * one, delivered, the last success and the last error, dead letters (not yet replayed). Reads
 * the store while the gateway runs (SQLite WAL readers). `--config FILE` instead of `--data`:
 * the gateway of that config file; in a group (`shared.postgres`) its alarm webhook's backlog
 * is counted in the group's alarm ledger (the transitions this gateway recorded), since the
 * group's transitions are not in the data directory. `outbound dead-letters` and
 * `outbound replay` are in cli/outbound-dead-letters, `outbound test` in cli/outbound-test.
 */
import type { Command } from 'commander';
import { AlarmSource, deliveryStatus, type OutboundStatus } from '../io/interfaces/index.js';
import { dataPaths } from '../io/ops/index.js';
import { PgAlarms } from '../io/shared/index.js';
import { openStore } from '../io/store/index.js';
import { type GatewaySource, gatewayConfigOption, gatewaySourceOf } from './gateway-config.js';
import { dataDirOption } from './inputs.js';
import { registerDeadLetterCommands } from './outbound-dead-letters.js';
import { registerOutboundTestCommand } from './outbound-test.js';

/** One receiver's line of `outbound status` (io/interfaces `OutboundStatus`, times in ISO 8601). */
export interface OutboundStatusLine extends Omit<OutboundStatus, 'lastOkAt' | 'lastErrorAt'> {
  lastOkAt: string | null;
  lastErrorAt: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * The status of every receiver the store has seen (io/interfaces `deliveryStatus`).
 * @throws {SharedStateError} `shared_unavailable` when a group's database cannot be used
 */
export async function outboundStatus(
  source: GatewaySource | string,
  now = Date.now(),
): Promise<OutboundStatusLine[]> {
  const { dataDir, gatewayId, postgres } =
    typeof source === 'string' ? gatewaySourceOf({ data: source }) : source;
  const store = openStore(dataPaths(dataDir).db);
  const ledger = postgres ? await PgAlarms.open({ ...postgres, gatewayId }) : null;
  try {
    const feed = ledger ? new AlarmSource(ledger, null, false, gatewayId) : null;
    const rows = await deliveryStatus(store, now, feed ? (from) => feed.backlog(from) : undefined);
    // The fields in the order `--json` has always printed them.
    return rows.map((s) => ({
      receiver: s.receiver,
      pending: s.pending,
      oldestPendingSeconds: s.oldestPendingSeconds,
      delivered: s.delivered,
      lastOkAt: iso(s.lastOkAt),
      lastError: s.lastError,
      lastErrorAt: iso(s.lastErrorAt),
      failures: s.failures,
      deadLetters: s.deadLetters,
    }));
  } finally {
    store.close();
    await ledger?.close();
  }
}

export function registerOutboundCommands(program: Command, defaultDataDir: string): void {
  const outbound = program
    .command('outbound')
    .description(
      'the outbound interfaces (HL7 PCD-01 over MLLP, FHIR R4 push, alarm webhook): their delivery state, dead letters and their replay, a connection test',
    );
  outbound
    .command('status')
    .description(
      'per receiver: readings pending, oldest pending age, delivered, last error, dead letters not yet replayed',
    )
    .addOption(dataDirOption(defaultDataDir))
    .addOption(gatewayConfigOption("the alarm webhook's backlog in the group's alarm ledger"))
    .option('--json', 'print JSON')
    .action(async (o: { data: string; config?: string; json?: boolean }) => {
      const rows = await outboundStatus(gatewaySourceOf(o));
      if (o.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      if (rows.length === 0) {
        process.stdout.write('no outbound receiver has run on this data directory\n');
        return;
      }
      for (const r of rows) {
        process.stdout.write(
          `${r.receiver}: ${r.pending} pending${r.oldestPendingSeconds !== null ? ` (oldest ${r.oldestPendingSeconds} s)` : ''}, ` +
            `${r.delivered} delivered${r.lastOkAt ? ` (last ${r.lastOkAt})` : ''}, ${r.deadLetters} dead letter(s)` +
            `${r.lastError ? `; last error ${r.lastErrorAt}: ${r.lastError}` : ''}\n`,
        );
      }
    });
  registerDeadLetterCommands(outbound, defaultDataDir);
  registerOutboundTestCommand(outbound);
}
