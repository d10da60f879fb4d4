/**
 * @module io/ops/instance-lock
 * One data directory, one running gateway (issue 13 item 11: "a second `npm start` on the
 * same data dir is not refused and kills the running demo's chain"). The owner writes
 * `gateway/instance.lock` (mode 0600) with its pid and the start time of its process,
 * written beside it and linked into place (io/ops/safe-write `createWhole`), so two starters
 * cannot both win and no starter ever sees a lock that is there but empty. A lock whose process no longer
 * runs (a kill -9, a crash) is stale and taken over; a live one refuses the start with
 * `data_dir_in_use`, naming the pid. The process start time (Linux /proc) guards against
 * a recycled pid, as PostgreSQL's postmaster.pid does with its own checks.
 *
 * Only processes that run the gateway or its embedded chain take the lock (`gateway`,
 * `demo`, `run`); CLI commands that write the store alongside a running gateway
 * (`kgc enroll`) rely on SQLite's own locking, by design.
 */
import { mkdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { VitalTrailError } from '../../protocol/errors.js';
import { createWhole } from './safe-write.js';

/** The file that records the running owner of a data directory. */
export const INSTANCE_LOCK_FILE = 'instance.lock';

/** A held lock; `release` removes the file if it is still this owner's. */
export interface DataDirLock {
  readonly path: string;
  release(): void;
}

interface Owner {
  pid: number;
  /** The owner's process start time in clock ticks since boot (/proc/PID/stat field 22), or null. */
  startTicks: number | null;
}

/** The start time of `pid` (clock ticks since boot), or null when it does not run or cannot be read. */
function startTicksOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]); // field 22 overall
    return Number.isSafeInteger(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

/** Whether process `pid` runs (EPERM: it runs, as another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the recorded owner still runs: same pid alive and, where known, the same start time. */
function ownerAlive(o: Owner): boolean {
  if (!pidAlive(o.pid)) return false;
  if (o.startTicks === null) return true;
  const now = startTicksOf(o.pid);
  return now === null || now === o.startTicks;
}

function readOwner(path: string): Owner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as Partial<Owner>;
    if (typeof o.pid !== 'number' || !Number.isSafeInteger(o.pid) || o.pid < 1) return null;
    return { pid: o.pid, startTicks: typeof o.startTicks === 'number' ? o.startTicks : null };
  } catch {
    return null; // torn or foreign: treated as stale
  }
}

/**
 * Takes the lock of the data directory whose gateway directory is `gatewayDir`.
 * @throws {VitalTrailError} `data_dir_in_use` when a running process holds it (or this
 *   process already does: one gateway per data directory, also within a process).
 * @example
 * const lock = lockDataDir(paths.gatewayDir);
 * try { … } finally { lock.release(); }
 */
export function lockDataDir(gatewayDir: string): DataDirLock {
  mkdirSync(gatewayDir, { recursive: true, mode: 0o700 });
  const path = join(gatewayDir, INSTANCE_LOCK_FILE);
  const me: Owner = { pid: process.pid, startTicks: startTicksOf(process.pid) };
  const body = `${JSON.stringify(me)}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    // Whole or not at all: never an empty lock that a second starter could take as stale.
    if (!createWhole(path, body)) {
      const owner = readOwner(path);
      if (owner && ownerAlive(owner)) {
        throw new VitalTrailError(
          'data_dir_in_use',
          `this data directory is in use by process ${owner.pid} (stop it first)`,
        );
      }
      // Stale: move it aside under a name of our own, so two starters never remove each other's fresh lock.
      try {
        renameSync(path, `${path}.stale-${process.pid}`);
        unlinkSync(`${path}.stale-${process.pid}`);
      } catch {
        // another starter moved it first: try again
      }
      continue;
    }
    let released = false;
    return {
      path,
      release() {
        if (released) return;
        released = true;
        const owner = readOwner(path);
        if (owner?.pid === me.pid && owner.startTicks === me.startTicks) unlinkSync(path);
      },
    };
  }
  throw new VitalTrailError('data_dir_in_use', 'the data directory lock could not be taken');
}
