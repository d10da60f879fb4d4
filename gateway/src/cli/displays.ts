/**
 * @module cli/displays
 * `vitaltrail displays add <name>|list|revoke <id>`: the ward's wall displays (issue 15;
 * io/identity/displays), for a hospital engineer setting up a central-station screen
 * without signing in to the page. The same table an admin manages through
 * `POST /api/displays` (io/http/displays), in `DATA/gateway/gateway.db`.
 *
 * As `vitaltrail users`, it works on the data directory of a stopped or of a running
 * gateway (SQLite's own locking, as `kgc enroll`): a running gateway accepts a new token at
 * once and ends a revoked display's sessions within `DISPLAY_SWEEP_MS` (2 s).
 * `add` prints the token and the path to open on the screen once; only the token's
 * SHA-256 is kept. Enrolments and revocations are appended to the audit log as
 * `cli:<os user>`.
 */
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { type Command, InvalidArgumentError } from 'commander';
import type { DisplayEnrolmentDto } from '../core/live-contract.js';
import {
  DISPLAY_NAME_PATTERN,
  type DisplayRecord,
  DisplayRegistry,
  displayPath,
} from '../io/identity/index.js';
import { AuditLog, dataPaths } from '../io/ops/index.js';
import { type GatewayStore, openStore } from '../io/store/index.js';
import { CliError } from './errors.js';
import { dataDirOption } from './inputs.js';

/** Who the audit log and the table name for a CLI change: `cli:<os user>` (or `cli`). */
export function cliActor(): string {
  let user = '';
  try {
    user = userInfo()
      .username.replace(/[^A-Za-z0-9._-]/g, '')
      .slice(0, 64);
  } catch {
    user = ''; // no passwd entry (a container's arbitrary uid)
  }
  return user ? `cli:${user}` : 'cli';
}

function nameArgument(value: string): string {
  if (!DISPLAY_NAME_PATTERN.test(value)) {
    throw new InvalidArgumentError(
      'a display name is 1-64 letters, digits, spaces and ._-#()/·, starting with a letter or digit',
    );
  }
  return value;
}

function urlOption(value: string): string {
  if (!/^https?:\/\/[^\s/?#]+\/?$/.test(value)) {
    throw new InvalidArgumentError('--url is the ward page origin, e.g. https://ward7b.example:8080');
  }
  return value.replace(/\/$/, '');
}

/**
 * Opens the data directory's store and audit log for one command.
 * @throws {CliError} `data_dir_missing` when the directory holds no gateway store.
 */
function withRegistry<T>(data: string, fn: (displays: DisplayRegistry, audit: AuditLog) => T): T {
  const paths = dataPaths(data);
  if (!existsSync(paths.db)) {
    throw new CliError(
      'data_dir_missing',
      'no gateway store in the data directory (start the gateway on it once; check --data)',
    );
  }
  const audit = new AuditLog(paths.gatewayDir);
  let store: GatewayStore | undefined;
  let result: T;
  try {
    store = openStore(paths.db);
    result = fn(new DisplayRegistry(store), audit);
  } finally {
    store?.close();
    audit.close();
  }
  // The change stands; its audit line did not: say so (exit 2).
  audit.throwIfUnwritten();
  return result;
}

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());
const detailOf = (d: DisplayRecord): string => `display ${d.id} ${d.name}`;

/**
 * Registers `displays add`, `displays list` and `displays revoke`.
 * @example registerDisplaysCommands(program); // vitaltrail displays add "Station 7B" --data /var/lib/vitaltrail
 */
export function registerDisplaysCommands(program: Command, defaultDataDir = '.vitaltrail/demo'): void {
  const displays = program
    .command('displays')
    .description('wall displays of the ward page: read-only, never signed out, revocable');

  displays
    .command('add')
    .description('enrol a wall display; prints its token and the address to open on it, once')
    .argument('<name>', 'display name shown on the screen, e.g. "Station 7B"', nameArgument)
    .option(
      '--url <origin>',
      'the ward page origin, to print the full address (default: the path only)',
      urlOption,
    )
    .option('--json', 'print JSON (DisplayEnrolmentDto)')
    .addOption(dataDirOption(defaultDataDir))
    .action((name: string, o: { url?: string; json?: boolean; data: string }) => {
      const actor = cliActor();
      const { display, token } = withRegistry(o.data, (reg, audit) => {
        const e = reg.enrol(name, actor);
        audit.append('display_enrolled', { user: actor, detail: detailOf(e.display) });
        return e;
      });
      const path = displayPath(token);
      if (o.json) {
        const dto: DisplayEnrolmentDto = { ...display, token, path };
        process.stdout.write(`${JSON.stringify(dto, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `enrolled display ${display.id} "${display.name}"\n` +
          `open this once on the wall screen (the token is not shown again):\n` +
          `  ${o.url ?? ''}${path}\n` +
          `token: ${token}\n` +
          `revoke with: vitaltrail displays revoke ${display.id}\n`,
      );
    });

  displays
    .command('list')
    .description('list wall displays: id, name, status, enrolled and revoked by whom (never tokens)')
    .option('--json', 'print JSON (DisplayDto[])')
    .addOption(dataDirOption(defaultDataDir))
    .action((o: { json?: boolean; data: string }) => {
      const rows = withRegistry(o.data, (reg) => reg.list());
      if (o.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `${'ID'.padEnd(13)} ${'NAME'.padEnd(24)} ${'STATUS'.padEnd(8)} ${'ENROLLED'.padEnd(24)} ${'BY'.padEnd(16)} REVOKED\n`,
      );
      for (const d of rows) {
        const status = d.revokedAt === null ? 'active' : 'revoked';
        const revoked = d.revokedAt === null ? '-' : `${iso(d.revokedAt)} by ${d.revokedBy ?? '?'}`;
        process.stdout.write(
          `${d.id.padEnd(13)} ${d.name.padEnd(24)} ${status.padEnd(8)} ${iso(d.createdAt).padEnd(24)} ${d.createdBy.padEnd(16)} ${revoked}\n`,
        );
      }
      process.stdout.write(`${rows.length} display(s)\n`);
    });

  displays
    .command('revoke')
    .description('revoke a wall display: its token stops working and a running gateway ends its sessions')
    .argument('<id>', 'display id (see displays list)')
    .addOption(dataDirOption(defaultDataDir))
    .action((id: string, o: { data: string }) => {
      const actor = cliActor();
      const done = withRegistry(o.data, (reg, audit) => {
        const r = reg.revoke(id, actor);
        if (r?.changed) audit.append('display_revoked', { user: actor, detail: detailOf(r.display) });
        return r;
      });
      if (!done) throw new CliError('bad_usage', 'no display has this id (see vitaltrail displays list)');
      process.stdout.write(
        done.changed
          ? `revoked display ${done.display.id} "${done.display.name}"\n`
          : `display ${done.display.id} "${done.display.name}" was already revoked (${iso(done.display.revokedAt)})\n`,
      );
    });
}
