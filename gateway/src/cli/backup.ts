/**
 * @module cli/backup
 * Online backup and restore of a data directory (issue 16; io/ops/backup has the copy and
 * its consistency argument, io/ops/backup-manifest the manifest):
 * - `vitaltrail backup --data DIR --out BACKUP [--json]`: while the gateway runs (no
 *   instance lock is taken), a consistent snapshot of the store through SQLite's online
 *   backup API plus every file a restore needs, verified and described by
 *   `BACKUP/manifest.json`.
 * - `vitaltrail restore --from BACKUP --data NEWDIR [--json]`: checks every file against the
 *   manifest, then writes NEWDIR; start a gateway on it as on any data directory.
 *
 * The store copy's log is checked here (io/store is above io/ops): the latest checkpoint and
 * the latest anchored one must name a tree size the copy holds, with the copy's root at that
 * size. `vitaltrail anchors verify-chain` checks every anchor against the chain.
 */
import type { Command } from 'commander';
import {
  type BackupCheckpoint,
  type BackupManifest,
  type BackupStoreSummary,
  backupDataDir,
  invalidBackup,
  restoreBackup,
} from '../io/ops/index.js';
import { type CheckpointRow, type GatewayStore, openStore } from '../io/store/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A checkpoint of the copy, checked against the copy's own log. */
function checkedCheckpoint(store: GatewayStore, c: CheckpointRow | undefined): BackupCheckpoint | null {
  if (!c) return null;
  if (c.treeSize > store.size || hex(store.root(c.treeSize)) !== hex(c.root))
    throw invalidBackup(`the checkpoint of tree size ${c.treeSize} does not match the log of the store copy`);
  return { treeSize: c.treeSize, root: hex(c.root), state: c.state };
}

/**
 * Reads the log of a store copy for the manifest (tree size, root, last checkpoint, last
 * anchored checkpoint, schema version, origin), checking the checkpoints against the log.
 * @throws {BackupError} `backup_invalid` when a checkpoint names another tree than the log's.
 */
export function inspectStoreCopy(dbPath: string): BackupStoreSummary {
  const store = openStore(dbPath);
  try {
    return {
      schemaVersion: Number(store.getMeta('schema_version') ?? 0),
      origin: store.getMeta('origin') ?? null,
      treeSize: store.size,
      root: hex(store.root()),
      lastCheckpoint: checkedCheckpoint(store, store.lastCheckpoint()),
      lastAnchored: checkedCheckpoint(store, store.latestAnchored()),
    };
  } finally {
    store.close();
  }
}

function summary(verb: string, dir: string, m: BackupManifest): string {
  const bytes = m.files.reduce((n, f) => n + f.size, 0);
  const cp = m.store.lastAnchored
    ? `last anchored checkpoint ${m.store.lastAnchored.treeSize}`
    : 'no anchored checkpoint';
  return (
    `${verb} ${dir}: ${m.files.length} files, ${bytes} bytes; snapshot ${m.createdAt}, ` +
    `schema ${m.store.schemaVersion}, tree size ${m.store.treeSize}, ${cp}; integrity ok\n`
  );
}

/**
 * Registers `backup` and `restore`.
 * @example registerBackupCommands(program, '.vitaltrail/demo');
 */
export function registerBackupCommands(program: Command, defaultDataDir: string): void {
  program
    .command('backup')
    .description(
      'back up a data directory while its gateway runs: a consistent store snapshot (SQLite online ' +
        'backup), keys, users, TLS, audit log, with a verified manifest (sizes, SHA-256, log size and root)',
    )
    .option('--data <dir>', 'data directory', defaultDataDir)
    .requiredOption('--out <dir>', 'the backup directory to create (new or empty; not inside --data)')
    .option('--json', 'print the manifest as JSON')
    .action(async (o: { data: string; out: string; json?: boolean }) => {
      const m = await backupDataDir({ dataDir: o.data, out: o.out, inspect: inspectStoreCopy });
      process.stdout.write(o.json ? `${JSON.stringify(m, null, 2)}\n` : summary('backed up to', o.out, m));
    });

  program
    .command('restore')
    .description(
      'restore a backup into a new data directory, after checking every file against its manifest; ' +
        'then start a gateway on it',
    )
    .requiredOption('--from <dir>', 'the backup directory (made by `vitaltrail backup`)')
    .requiredOption('--data <dir>', 'the data directory to create (new or empty)')
    .option('--json', 'print the manifest as JSON')
    .action((o: { from: string; data: string; json?: boolean }) => {
      const m = restoreBackup({ from: o.from, dataDir: o.data, inspect: inspectStoreCopy });
      process.stdout.write(o.json ? `${JSON.stringify(m, null, 2)}\n` : summary('restored into', o.data, m));
    });
}
