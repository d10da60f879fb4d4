/**
 * @module cli/outbound-dead-letters
 * `vitaltrail outbound dead-letters` and `vitaltrail outbound replay` (issue 19): the messages
 * a receiver refused (HL7 AE/AR, FHIR 4xx, webhook 4xx), set aside in `outbound_dead_letters`
 * while the cursor went on, and sending them again once the receiver's problem is fixed.
 *
 * Both work on the data directory of a running or a stopped gateway (SQLite's own locking, as
 * `users` and `displays`): `replay` only marks the dead letters in the store ("replay
 * requested", audited as `outbound_replay_requested` by `cli:<os user>`), and the gateway's
 * delivery worker of that receiver sends them before its next messages, built again from the
 * log or the alarm record with their original identifiers (io/interfaces/delivery). A stopped
 * gateway sends them when it starts next. `--wait` waits for the outcome.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { type DeadLetterRow, DeliveryState, type ReplayRequest } from '../io/interfaces/index.js';
import { type AuditEventType, AuditLog, dataPaths, INSTANCE_LOCK_FILE } from '../io/ops/index.js';
import { type GatewayStore, openStore } from '../io/store/index.js';
import { cliActor } from './displays.js';
import { CliError } from './errors.js';
import { dataDirOption } from './inputs.js';

/** The audit event of a replay request. */
const REPLAY_REQUESTED: AuditEventType = 'outbound_replay_requested';

/** Where a dead letter stands. */
export type DeadLetterState = 'dead' | 'replay_requested' | 'replayed';

/** One dead letter as the commands print it (io/interfaces `DeadLetterRow`, times in ISO 8601). */
export interface DeadLetterLine {
  id: number;
  receiver: string;
  /** The stable identifier: `<dev>:<seq>`, `<dev>:<first>-<last>`, `alarm-event:<n>`. */
  item: string;
  /** Its log position (readings) or alarm event id (alarm transitions). */
  position: number;
  state: DeadLetterState;
  code: string;
  lastError: string;
  setAsideAt: string;
  attempts: number;
  lastAttemptAt: string | null;
  replayRequestedAt: string | null;
  replayRequestedBy: string | null;
  replayedAt: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

const stateOf = (d: DeadLetterRow): DeadLetterState =>
  d.replayedAt !== null ? 'replayed' : d.replayRequestedAt !== null ? 'replay_requested' : 'dead';

function toLine(d: DeadLetterRow): DeadLetterLine {
  return {
    id: d.id,
    receiver: d.receiver,
    item: d.item,
    position: d.position,
    state: stateOf(d),
    code: d.code,
    lastError: d.reason,
    setAsideAt: iso(d.at) as string,
    attempts: d.attempts,
    lastAttemptAt: iso(d.lastAttemptAt),
    replayRequestedAt: iso(d.replayRequestedAt),
    replayRequestedBy: d.replayRequestedBy,
    replayedAt: iso(d.replayedAt),
  };
}

/**
 * Runs `fn` on the data directory's delivery state.
 * @throws {CliError} `data_dir_missing` when the directory holds no gateway store;
 *   `bad_usage` when `receiver` names no receiver that ever ran on it.
 */
function withState<T>(data: string, receiver: string | undefined, fn: (s: DeliveryState) => T): T {
  const paths = dataPaths(data);
  if (!existsSync(paths.db)) {
    throw new CliError(
      'data_dir_missing',
      'no gateway store in the data directory (start the gateway on it once; check --data)',
    );
  }
  let store: GatewayStore | undefined;
  try {
    store = openStore(paths.db);
    const state = new DeliveryState(store);
    if (receiver !== undefined) {
      const known = state.all().map((c) => c.receiver);
      if (!known.includes(receiver)) {
        throw new CliError(
          'bad_usage',
          known.length === 0
            ? 'no outbound receiver has run on this data directory'
            : `no outbound receiver of this name has run on this data directory (it knows ${known.join(', ')})`,
        );
      }
    }
    return fn(state);
  } finally {
    store?.close();
  }
}

/**
 * The dead letters of a data directory, oldest first.
 * @param o `receiver`: only its; `replayed`: replayed ones too; `limit`: at most this many
 * @throws {CliError} as `withState`.
 */
export function listDeadLetters(
  dataDir: string,
  o: { receiver?: string; replayed?: boolean; limit: number },
): DeadLetterLine[] {
  return withState(dataDir, o.receiver, (s) => s.listDeadLetters(o).map(toLine));
}

/** The dead letters with these ids, in id order. */
export function deadLettersById(dataDir: string, ids: readonly number[]): DeadLetterLine[] {
  return withState(dataDir, undefined, (s) => s.deadLettersById(ids).map(toLine));
}

/** The pid of the gateway that holds the data directory's instance lock and runs, or null. */
export function runningGatewayPid(dataDir: string): number | null {
  let pid: unknown;
  try {
    pid = (
      JSON.parse(readFileSync(join(dataPaths(dataDir).gatewayDir, INSTANCE_LOCK_FILE), 'utf8')) as {
        pid?: unknown;
      }
    ).pid;
  } catch {
    return null; // no lock (a stopped gateway) or a torn one
  }
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid < 1) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

/**
 * Marks dead letters of `receiver` for replay (every one not yet replayed with `'all'`), and
 * audits it.
 * @throws {CliError} as `withState`; `bad_usage` when an id is not a dead letter of the
 *   receiver (then nothing is marked).
 */
export function requestDeadLetterReplay(
  dataDir: string,
  receiver: string,
  ids: readonly number[] | 'all',
  actor = cliActor(),
  now = Date.now(),
): ReplayRequest {
  const r = withState(dataDir, receiver, (s) => s.requestReplay(receiver, ids, actor, now));
  if (r.unknown.length > 0) {
    throw new CliError(
      'bad_usage',
      `not a dead letter of this receiver: ${r.unknown.join(', ')} (outbound dead-letters lists them); nothing was marked`,
    );
  }
  if (r.requested.length > 0) {
    const audit = new AuditLog(dataPaths(dataDir).gatewayDir);
    audit.append(REPLAY_REQUESTED, {
      user: actor,
      detail: `receiver ${receiver}, dead letters ${r.requested.join(',')}`,
    });
    audit.closeOrThrow(); // the request stands; its audit line did not: say so (exit 2)
  }
  return r;
}

/**
 * Waits until none of `ids` is still waiting for its replay, or `timeoutMs` passed.
 * @returns the dead letters as they stand then.
 */
export async function waitForReplay(
  dataDir: string,
  ids: readonly number[],
  timeoutMs: number,
): Promise<DeadLetterLine[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const rows = deadLettersById(dataDir, ids);
    if (rows.every((d) => d.state !== 'replay_requested') || Date.now() >= end) return rows;
    await sleep(200);
  }
}

function positiveInt(flag: string, value: string, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new CliError('bad_usage', `${flag} takes a whole number from 1 to ${max}`);
  }
  return n;
}

function printLines(rows: readonly DeadLetterLine[]): void {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(
    `${'ID'.padEnd(6)} ${'RECEIVER'.padEnd(10)} ${'ITEM'.padEnd(22)} ${'POSITION'.padEnd(9)} ` +
      `${'STATE'.padEnd(16)} ${'SET ASIDE'.padEnd(24)} LAST ERROR`,
  );
  for (const d of rows) {
    const tries = d.attempts > 1 ? ` (${d.attempts} attempts, the last ${d.lastAttemptAt})` : '';
    out(
      `${String(d.id).padEnd(6)} ${d.receiver.padEnd(10)} ${d.item.padEnd(22)} ${String(d.position).padEnd(9)} ` +
        `${d.state.padEnd(16)} ${d.setAsideAt.padEnd(24)} ${d.code}: ${d.lastError}${tries}` +
        (d.replayedAt ? `; replayed ${d.replayedAt}` : ''),
    );
  }
}

/** Adds `outbound dead-letters` and `outbound replay` to the `outbound` command. */
export function registerDeadLetterCommands(outbound: Command, defaultDataDir: string): void {
  outbound
    .command('dead-letters')
    .description(
      'the messages receivers refused (set aside; the cursor went on): id, receiver, item and position, state, last error',
    )
    .addOption(dataDirOption(defaultDataDir))
    .option('--receiver <name>', 'only this receiver’s (mllp, fhir, acm, webhook)')
    .option('--replayed', 'also those already replayed')
    .option('--limit <n>', 'at most this many, oldest first (default 200)')
    .option('--json', 'print JSON')
    .action((o: { data: string; receiver?: string; replayed?: boolean; limit?: string; json?: boolean }) => {
      const limit = o.limit === undefined ? 200 : positiveInt('--limit', o.limit, 1_000_000);
      const rows = listDeadLetters(o.data, {
        ...(o.receiver !== undefined ? { receiver: o.receiver } : {}),
        ...(o.replayed ? { replayed: true } : {}),
        limit: limit + 1,
      });
      const shown = rows.slice(0, limit);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
        return;
      }
      if (shown.length === 0) {
        process.stdout.write(`no dead letter${o.replayed ? '' : ' waits for a replay'}\n`);
        return;
      }
      printLines(shown);
      process.stdout.write(
        `${shown.length} dead letter(s)${rows.length > limit ? ', more after these (--limit)' : ''}\n`,
      );
    });

  outbound
    .command('replay')
    .description(
      'send dead letters of one receiver again (once its problem is fixed), with their original identifiers; ' +
        'a running gateway sends them before its next messages, a stopped one when it starts',
    )
    .addOption(dataDirOption(defaultDataDir))
    .requiredOption('--receiver <name>', 'the receiver (mllp, fhir, acm, webhook)')
    .option('--id <n...>', 'these dead letters (outbound dead-letters lists their ids)')
    .option('--all', 'every dead letter of the receiver not yet replayed')
    .option('--wait <seconds>', 'wait up to this long for the outcome (exit 1 unless every one was replayed)')
    .option('--json', 'print JSON')
    .action(
      async (o: {
        data: string;
        receiver: string;
        id?: string[];
        all?: boolean;
        wait?: string;
        json?: boolean;
      }) => {
        if ((o.id === undefined) === (o.all === undefined))
          throw new CliError('bad_usage', 'name the dead letters: --id N [N …], or --all');
        const ids = o.all
          ? 'all'
          : [...new Set(o.id!.map((v) => positiveInt('--id', v, Number.MAX_SAFE_INTEGER)))];
        const waitMs = o.wait === undefined ? undefined : positiveInt('--wait', o.wait, 3600) * 1000;
        const r = requestDeadLetterReplay(o.data, o.receiver, ids);
        const pid = runningGatewayPid(o.data);
        const outcome =
          waitMs !== undefined && r.requested.length > 0
            ? await waitForReplay(o.data, r.requested, waitMs)
            : null;
        if (outcome?.some((d) => d.state !== 'replayed')) process.exitCode = 1;
        if (o.json) {
          const json = { receiver: o.receiver, ...r, gatewayPid: pid, ...(outcome ? { outcome } : {}) };
          process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
          return;
        }
        printReplay(o.receiver, r, pid, outcome);
      },
    );
}

function printReplay(
  receiver: string,
  r: ReplayRequest,
  pid: number | null,
  outcome: readonly DeadLetterLine[] | null,
): void {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  for (const id of r.alreadyReplayed) out(`dead letter ${id} was replayed already: left as it is`);
  if (r.requested.length === 0) {
    out(`no dead letter of ${receiver} to replay`);
    return;
  }
  out(`replay requested for ${r.requested.length} dead letter(s) of ${receiver}: ${r.requested.join(', ')}`);
  if (!outcome) {
    out(
      pid !== null
        ? `the running gateway (pid ${pid}) sends them before its next messages, if it runs receiver ${receiver}; ` +
            'outbound dead-letters --replayed shows the outcome'
        : `no gateway runs on this data directory: they are sent when it starts next with receiver ${receiver}`,
    );
    return;
  }
  for (const d of outcome) {
    out(
      d.state === 'replayed'
        ? `dead letter ${d.id} (${d.item}): replayed ${d.replayedAt}`
        : d.state === 'dead'
          ? `dead letter ${d.id} (${d.item}): refused again: ${d.code}: ${d.lastError}`
          : `dead letter ${d.id} (${d.item}): still waiting${pid === null ? ' (no gateway runs on this data directory)' : ''}`,
    );
  }
}
