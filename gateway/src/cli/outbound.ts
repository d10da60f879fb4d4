/**
 * @module cli/outbound
 * `vitaltrail outbound status --data DIR [--json]`: the state of each outbound interface
 * (issue 19) as an integration engineer checks it: readings pending, the age of the oldest
 * one, delivered, the last success and the last error, dead letters. Reads the store while
 * the gateway runs (SQLite WAL readers).
 */
import type { Command } from 'commander';
import { AlarmStore } from '../io/clinical/index.js';
import { DeliveryState } from '../io/interfaces/index.js';
import { dataPaths } from '../io/ops/index.js';
import { openStore } from '../io/store/index.js';
import { dataDirOption } from './inputs.js';

/** One receiver's line of `outbound status`. */
export interface OutboundStatus {
  receiver: string;
  pending: number;
  oldestPendingSeconds: number | null;
  delivered: number;
  lastOkAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  failures: number;
  deadLetters: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The status of every receiver the store has seen. */
export function outboundStatus(dataDir: string, now = Date.now()): OutboundStatus[] {
  const store = openStore(dataPaths(dataDir).db);
  try {
    const alarms = new AlarmStore(store);
    return new DeliveryState(store).all().map((c) => {
      // A reading receiver walks the log; the alarm webhook walks the alarm event ids.
      const [pending, oldestAt] =
        c.source === 'alarms'
          ? [alarms.lastEventId() + 1 - c.nextLeaf, alarms.eventsFrom(c.nextLeaf, 1)[0]?.at]
          : [store.size - c.nextLeaf, store.framesFrom(c.nextLeaf, 1)[0]?.acceptedAt];
      return {
        receiver: c.receiver,
        pending: Math.max(0, pending),
        oldestPendingSeconds:
          oldestAt === undefined ? null : Math.max(0, Math.round((now - oldestAt) / 1000)),
        delivered: c.delivered,
        lastOkAt: iso(c.lastOkAt),
        lastError: c.lastError,
        lastErrorAt: iso(c.lastErrorAt),
        failures: c.failures,
        deadLetters: c.deadLetters,
      };
    });
  } finally {
    store.close();
  }
}

export function registerOutboundCommands(program: Command, defaultDataDir: string): void {
  const outbound = program
    .command('outbound')
    .description('the outbound interfaces (HL7 PCD-01 over MLLP, FHIR R4 push): their delivery state');
  outbound
    .command('status')
    .description('per receiver: readings pending, oldest pending age, delivered, last error, dead letters')
    .addOption(dataDirOption(defaultDataDir))
    .option('--json', 'print JSON')
    .action((o: { data: string; json?: boolean }) => {
      const rows = outboundStatus(o.data);
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
}
