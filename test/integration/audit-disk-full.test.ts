/**
 * @module test/integration/audit-disk-full
 * The audit log's lock on a full disk (io/ops/audit-rotation `lockAudit`), on a real 1 MiB
 * tmpfs that the test fills with a file. The lock was created empty and then written its
 * holder's pid: on a full disk the write failed and left an empty lock that no writer could
 * read a pid from, so every later batch, the space freed or not, held the event loop for the
 * whole 5 s wait and failed `audit_locked` (seen on a gateway stopped on a full disk: its
 * last event was lost, and a write 5 s after "gateway stopped" failed too). Now the lock
 * is a file beside it linked into place, never empty: a write that fails leaves no lock,
 * the batch waits in memory, and the first flush after the space is freed writes it.
 *
 * Mounting needs root (CAP_SYS_ADMIN); the test uses `sudo -n` when not root, as
 * test/setup/system-deps.sh does for apt-get.
 */
import { existsSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AUDIT_LOG_FILE, AuditLog, verifyAuditLog } from '../../gateway/src/io/ops/audit.js';
import { fillFileSystem, tmpfsForTests } from '../helpers/tmpfs.js';

const mnt = tmpfsForTests('vt-audit-full-', '1m', '0777');

const fillDisk = (): string => fillFileSystem(mnt);

const events = (dir: string): string[] =>
  readFileSync(join(dir, AUDIT_LOG_FILE), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { event: string }).event);

describe('the audit log on a full disk', () => {
  it('behavior: a batch that cannot be written leaves no lock behind; once space is freed the next flush writes it, in order, the chain intact', () => {
    const dir = join(mnt, 'gateway');
    const log = new AuditLog(dir);
    log.append('gateway_started', { detail: 'gw-1' });
    log.flush();
    const filler = fillDisk();

    log.append('device_revoked', { dev: 'wr-0001', source: 'crl' });
    expect(() => log.flush()).toThrow(/ENOSPC/);
    // No lock left, and no file of the lock's: the directory as before the batch.
    expect(readdirSync(dir).filter((n) => n.includes('lock'))).toEqual([]);

    rmSync(filler);
    log.append('gateway_stopped', { detail: 'gw-1' });
    log.flush();
    expect(events(dir)).toEqual(['gateway_started', 'device_revoked', 'gateway_stopped']);
    expect(verifyAuditLog(dir)).toMatchObject({ ok: true, problems: [] });
  });

  it('behavior: while no batch can be written, at most maxPending events wait; the rest are counted and recorded as audit_events_dropped once space is freed', () => {
    const dir = join(mnt, 'bounded');
    const log = new AuditLog(dir, { maxPending: 5 });
    log.append('gateway_started', { detail: 'gw-1' });
    log.flush();
    const filler = fillDisk();
    for (let i = 0; i < 8; i++)
      log.append('frame_rejected', { dev: 'wr-0001', seq: i, code: 'bad_signature' });
    log.append('connect_refused', { reason: 'unknown_device', transport: 'plain' });
    expect(() => log.flush()).toThrow(/ENOSPC/);
    rmSync(filler);
    log.flush();
    const lines = readFileSync(join(dir, AUDIT_LOG_FILE), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; seq?: number; detail?: string });
    expect(lines.map((l) => l.event)).toEqual([
      'gateway_started',
      ...Array(5).fill('frame_rejected'),
      'audit_events_dropped',
    ]);
    expect(lines.slice(1, 6).map((l) => l.seq)).toEqual([0, 1, 2, 3, 4]); // the oldest kept
    expect(lines[6]?.detail).toBe(
      '4 events not kept while the log could not be written: frame_rejected 3, connect_refused 1',
    );
    expect(verifyAuditLog(dir)).toMatchObject({ ok: true, problems: [] });
    // Counted once: the next batch has no such line.
    log.append('gateway_stopped', { detail: 'gw-1' });
    log.flush();
    expect(events(dir).slice(-2)).toEqual(['audit_events_dropped', 'gateway_stopped']);
  });

  it('behavior: after a failed write the appends of the next turns wait for the retry instead of each trying the full disk again', async () => {
    const dir = join(mnt, 'paced');
    const errors: unknown[] = [];
    const log = new AuditLog(dir, { retryMs: 2000, onError: (e) => errors.push(e) });
    log.append('gateway_started', { detail: 'gw-1' });
    log.flush();
    const filler = fillDisk();
    const turn = () => new Promise((r) => setImmediate(r));
    for (let i = 0; i < 50; i++) {
      log.append('frame_rejected', { dev: 'wr-0001', seq: i, code: 'bad_signature' });
      await turn();
    }
    expect(errors.length).toBe(1); // one try, then the retry timer (2 s) not yet due
    rmSync(filler);
    // The retry writes what waited.
    for (let i = 0; i < 200 && events(dir).length < 51; i++) await new Promise((r) => setTimeout(r, 50));
    expect(events(dir)).toEqual(['gateway_started', ...Array(50).fill('frame_rejected')]);
    expect(errors.length).toBe(1);
    log.append('gateway_stopped', { detail: 'gw-1' });
    await turn();
    await turn();
    expect(events(dir).at(-1)).toBe('gateway_stopped'); // and appends go out at once again
    log.close();
  });

  it('behavior: an empty lock (left by an older version whose pid write failed) older than the wait is taken over', () => {
    const dir = join(mnt, 'old-lock');
    const log = new AuditLog(dir);
    log.append('gateway_started', { detail: 'gw-1' });
    log.flush();
    const lock = join(dir, 'audit.lock');
    writeFileSync(lock, '');
    const old = (Date.now() - 60_000) / 1000;
    utimesSync(lock, old, old);

    log.append('gateway_stopped', { detail: 'gw-1' });
    log.flush();
    expect(events(dir)).toEqual(['gateway_started', 'gateway_stopped']);
    expect(existsSync(lock)).toBe(false); // released after the batch
  });
});
