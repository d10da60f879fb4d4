/**
 * @module test/integration/store-wal-limit
 * The store's WAL after a long reader (io/store/store `WAL_SIZE_LIMIT`): while a reader holds
 * an old snapshot (a `vitaltrail backup` of a big store takes minutes) no checkpoint can let
 * the WAL start over, so it grows with every write; SQLite then keeps the file at its largest
 * unless `journal_size_limit` is set. A probe of the demo saw 4.35 → 56.6 MB during a 180 s
 * read, and 56.6 MB still 40 minutes later. Real files, a real second connection.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, WAL_SIZE_LIMIT } from '../../gateway/src/io/store/store.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('the store WAL after a long reader', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());

  it('error: a WAL grown behind a reader is cut back to the limit once it starts over', () => {
    const path = join(tmp.dir, 'gateway.db');
    const store = openStore(path);
    const wal = () => statSync(`${path}-wal`).size;
    try {
      // Writes of the test's own (the store's tables need sealed frames): the WAL is the file's.
      store.db.exec('CREATE TABLE wal_probe (b BLOB)');
      const put = store.db.prepare('INSERT INTO wal_probe (b) VALUES (?)');
      const reader = new Database(path, { readonly: true });
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM wal_probe').get(); // the snapshot is now held
      const chunk = Buffer.alloc(1024 * 1024, 0x5a);
      const chunks = Math.ceil((WAL_SIZE_LIMIT * 1.25) / chunk.length);
      for (let i = 0; i < chunks; i++) put.run(chunk);
      expect(wal()).toBeGreaterThan(WAL_SIZE_LIMIT);
      reader.exec('COMMIT');
      reader.close();

      // The reader is gone: a checkpoint copies the WAL back, the next write starts it over.
      store.db.pragma('wal_checkpoint(PASSIVE)');
      store.db.exec('DELETE FROM wal_probe');
      store.db.pragma('wal_checkpoint(PASSIVE)');
      put.run(Buffer.from('after'));
      expect(wal()).toBeLessThanOrEqual(WAL_SIZE_LIMIT);
      expect(store.db.prepare('SELECT count(*) FROM wal_probe').pluck().get()).toBe(1);
    } finally {
      store.close();
    }
  });
});
