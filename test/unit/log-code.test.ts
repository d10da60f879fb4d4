/**
 * @module test/unit/log-code
 * The code a log line carries for an error (app/gateway-parts `code`): ours, else the
 * system's or SQLite's own (protocol/errors `systemCode`), so "anchoring failed; will retry"
 * on a full disk says SQLITE_FULL or ENOSPC, not `unknown`; and the CLI's one line for an
 * error (cli/errors `errorText`) leads with that code. Real errors from node:fs and
 * better-sqlite3.
 */
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { code } from '../../gateway/src/app/gateway-parts.js';
import { errorText } from '../../gateway/src/cli/errors.js';
import { StoreError } from '../../gateway/src/io/store/store.js';

const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
};

describe('code', () => {
  const fsError = thrown(() => readFileSync('/nonexistent/vitaltrail'));
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY)');
  db.exec('INSERT INTO t VALUES (1)');
  const sqliteError = thrown(() => db.exec('INSERT INTO t VALUES (1)'));

  it('behavior: ours first, then the system or SQLite code of the error or its cause', () => {
    expect(code(new StoreError('store_failed', 'x', { cause: sqliteError }))).toBe('store_failed');
    expect(code(fsError)).toBe('ENOENT');
    expect(code(sqliteError)).toBe('SQLITE_CONSTRAINT_PRIMARYKEY');
    expect(code(new Error('anchoring', { cause: fsError }))).toBe('ENOENT');
  });

  it('behavior: anything else is unknown (no message, no odd code, not a thrown string)', () => {
    expect(code(new Error('the path /data/devices/wr-0001 is gone'))).toBe('unknown');
    expect(code(Object.assign(new Error('x'), { code: 'not a code; has spaces' }))).toBe('unknown');
    expect(code(Object.assign(new Error('x'), { code: 42 }))).toBe('unknown');
    expect(code('ENOSPC')).toBe('unknown');
    expect(code(undefined)).toBe('unknown');
  });

  it('behavior: the CLI line leads with the SQLite code; a node:fs message already starts with its own', () => {
    expect(errorText(sqliteError)).toBe('SQLITE_CONSTRAINT_PRIMARYKEY: UNIQUE constraint failed: t.k');
    expect(errorText(fsError)).toMatch(
      /^ENOENT: no such file or directory, open '\/nonexistent\/vitaltrail'$/,
    );
    expect(errorText(new StoreError('store_failed', 'the batch could not be written'))).toBe(
      'store_failed: the batch could not be written',
    );
    expect(errorText(new Error('plain'))).toBe('plain');
  });
});
