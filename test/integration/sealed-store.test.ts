/**
 * The sealed time-series store (issue 4) through real parts: the Ingest pipeline, COSE_Encrypt0
 * frames (and jose JWEs of format 2), SQLite files in temp dirs. Round trips for RSA-3072 and P-256 recipients, data-key
 * windows and early rotation, recipient rotation, tampering, crypto-shredding (the log's
 * proofs still verify), and the skeleton's batch format (old data dirs stay readable).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from 'cbor2';
import { afterEach, describe, expect, test } from 'vitest';
import { hashLeaf, verifyInclusion } from '../../anchor/src/log/index.js';
import { type RecipientSecret, sealBatch, sealWithDataKey } from '../../gateway/src/core/envelope.js';
import { readReadings } from '../../gateway/src/io/queries/index.js';
import { addRecipient, retireRecipient, watchRecipients } from '../../gateway/src/io/store/recipients.js';
import { batchAad, frameAad, SealedReader } from '../../gateway/src/io/store/sealed.js';
import { shredExpired } from '../../gateway/src/io/store/shredding.js';
import { type GatewayStore, openStore } from '../../gateway/src/io/store/store.js';
import { frameHash } from '../../gateway/src/protocol/frame.js';
import { decodeShredRecord } from '../../gateway/src/protocol/shred-record.js';
import { readFrames, recipientPair, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 21, 8, 0, 0);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
function tmp(): string {
  const t = makeTempDir('vt-sealed-');
  cleanups.push(t.cleanup);
  return t.dir;
}

function allRows(store: GatewayStore) {
  return store.db
    .prepare('SELECT dev FROM frames GROUP BY dev')
    .pluck()
    .all()
    .flatMap((dev) =>
      store.framesByDevice(dev as string, 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    )
    .sort((a, b) => a.leafIndex - b.leafIndex);
}

describe('sealed store', () => {
  test.each(['ec', 'rsa'] as const)(
    'behavior: frames round-trip for a %s recipient, one data key per device and window',
    async (kind) => {
      const dir = tmp();
      const r = recipientPair('care', kind);
      let now = T0;
      const rig = sealedRig(dir, [r.recipient], { now: () => now });
      cleanups.push(() => rig.store.close());
      const a = rig.device('wr-a');
      const b = rig.device('wr-b');
      const sent = new Map<number, Uint8Array>();
      for (let i = 0; i < 20; i++) {
        for (const c of [a, b]) {
          const bytes = c.next({ ts: now });
          const res = await rig.ingest.submit(bytes, c.dev);
          expect(res.status).toBe('accepted');
          if (res.status === 'accepted') sent.set(res.leafIndex, bytes);
        }
        now += 1000;
      }
      const keys = rig.store.db.prepare('SELECT dev, window_start FROM data_keys ORDER BY id').all();
      expect(keys).toEqual([
        { dev: 'wr-a', window_start: T0 },
        { dev: 'wr-b', window_start: T0 },
      ]);
      // The skeleton's per-batch envelope is gone; every frame has its own sealed row.
      expect(rig.store.db.prepare('SELECT count(*) FROM sealed_frames').pluck().get()).toBe(40);
      const rows = allRows(rig.store);
      const secrets: RecipientSecret[] = [{ kid: 'care', privateKey: r.privateKey }];
      const frames = await readFrames(rig.store, secrets, rows);
      for (const [i, row] of rows.entries()) {
        expect(Buffer.compare(frames[i] as Uint8Array, sent.get(row.leafIndex) as Uint8Array)).toBe(0);
      }
      // A key of someone else opens nothing.
      const stranger = recipientPair('care', 'ec');
      await expect(
        readFrames(rig.store, [{ kid: 'care', privateKey: stranger.privateKey }], rows.slice(0, 1)),
      ).rejects.toMatchObject({
        code: 'integrity_error',
      });
      await expect(
        readFrames(rig.store, [{ kid: 'other', privateKey: r.privateKey }], rows.slice(0, 1)),
      ).rejects.toMatchObject({
        code: 'no_recipient_key',
      });
    },
  );

  test('behavior: a new window and the frame limit each start a new data key; the key is recorded before use', async () => {
    const dir = tmp();
    const r = recipientPair('care', 'ec');
    let now = T0;
    const rig = sealedRig(dir, [r.recipient], {
      now: () => now,
      dataKeys: { windowMs: HOUR, maxFramesPerKey: 5 },
    });
    cleanups.push(() => rig.store.close());
    const a = rig.device('wr-a');
    for (let i = 0; i < 12; i++) await rig.ingest.submit(a.next({ ts: now }), 'wr-a'); // 5+5+2
    now += HOUR;
    await rig.ingest.submit(a.next({ ts: now }), 'wr-a');
    const keys = rig.store.db.prepare('SELECT id, window_start FROM data_keys ORDER BY id').all() as {
      id: number;
      window_start: number;
    }[];
    expect(keys.map((k) => k.window_start)).toEqual([T0, T0, T0, T0 + HOUR]);
    const perKey = rig.store.db
      .prepare('SELECT key_id, count(*) AS n FROM sealed_frames GROUP BY key_id ORDER BY key_id')
      .all();
    expect(perKey.map((x) => (x as { n: number }).n)).toEqual([5, 5, 2, 1]);
    const frames = await readFrames(
      rig.store,
      [{ kid: 'care', privateKey: r.privateKey }],
      allRows(rig.store),
    );
    expect(frames.every((f) => f instanceof Uint8Array)).toBe(true);
  });

  test('error: a changed ciphertext byte, a moved ciphertext or a changed key envelope is an integrity_error, never a value', async () => {
    const dir = tmp();
    const r = recipientPair('care', 'ec');
    const rig = sealedRig(dir, [r.recipient]);
    cleanups.push(() => rig.store.close());
    const a = rig.device('wr-a');
    for (let i = 0; i < 3; i++) await rig.ingest.submit(a.next(), 'wr-a');
    const secrets = [{ kid: 'care', privateKey: r.privateKey }];
    const rows = allRows(rig.store);
    const db = rig.store.db;
    const stored = (leaf: number) =>
      db.prepare('SELECT envelope FROM sealed_frames WHERE leaf_index = ?').pluck().get(leaf) as Buffer;
    const setStored = (leaf: number, v: Uint8Array | string) =>
      db.prepare('UPDATE sealed_frames SET envelope = ? WHERE leaf_index = ?').run(v, leaf);
    const original0 = stored(0);
    const original1 = stored(1);
    expect(Buffer.isBuffer(original0)).toBe(true); // a COSE_Encrypt0, not text

    // One ciphertext byte flipped.
    const ct = Buffer.from(original0);
    ct[ct.length >> 1] = (ct[ct.length >> 1] as number) ^ 0x01;
    setStored(0, ct);
    await expect(readFrames(rig.store, secrets, rows.slice(0, 1))).rejects.toMatchObject({
      code: 'integrity_error',
    });
    // The same bytes as text (a JWE's column type): refused, never guessed at.
    setStored(0, original0.toString('latin1'));
    await expect(readFrames(rig.store, secrets, rows.slice(0, 1))).rejects.toMatchObject({
      code: 'integrity_error',
    });
    // Another row's (valid) ciphertext moved here: the AAD binds it to its own place.
    setStored(0, original1);
    await expect(readFrames(rig.store, secrets, rows.slice(0, 1))).rejects.toMatchObject({
      code: 'integrity_error',
    });
    setStored(0, original0);
    expect(await readFrames(rig.store, secrets, rows.slice(0, 1))).toHaveLength(1);

    // The wrapped data key altered.
    const env = JSON.parse(db.prepare('SELECT envelope FROM data_keys').pluck().get() as string) as {
      ciphertext: string;
    };
    const kc = Buffer.from(env.ciphertext, 'base64url');
    kc[0] = (kc[0] as number) ^ 0x80;
    db.prepare('UPDATE data_keys SET envelope = ?').run(
      JSON.stringify({ ...env, ciphertext: kc.toString('base64url') }),
    );
    await expect(readFrames(rig.store, secrets, rows)).rejects.toMatchObject({ code: 'integrity_error' });
  });

  test('behavior: a row of format 2 (a JWE text, before schema version 11) still opens; not canonical, it is an integrity_error; its members in another order still open', async () => {
    const dir = tmp();
    const r = recipientPair('care', 'ec');
    const rig = sealedRig(dir, [r.recipient]);
    cleanups.push(() => rig.store.close());
    const a = rig.device('wr-a');
    const sent = a.next();
    await rig.ingest.submit(sent, 'wr-a');
    const secrets = [{ kid: 'care', privateKey: r.privateKey }];
    const rows = allRows(rig.store);
    const row = rows[0] as (typeof rows)[number];
    const db = rig.store.db;
    // The row as the release before wrote it: jose's flattened JWE under the same data key.
    const keyId = db.prepare('SELECT key_id FROM sealed_frames WHERE leaf_index = 0').pluck().get() as number;
    const key = await new SealedReader(rig.store, secrets).dataKey(keyId, 'wr-a');
    if (key === 'shredded') throw new Error('unexpected');
    const original = await sealWithDataKey(sent, key, String(keyId), frameAad('wr-a', row.seq, 0, keyId));
    const setJwe = (v: string) =>
      db.prepare('UPDATE sealed_frames SET envelope = ? WHERE leaf_index = 0').run(v);
    setJwe(original);
    expect(Buffer.compare((await readFrames(rig.store, secrets, rows))[0] as Uint8Array, sent)).toBe(0);
    const s = JSON.parse(original) as { protected: string; iv: string; ciphertext: string; tag: string };
    const reordered = JSON.stringify({
      tag: s.tag,
      ciphertext: s.ciphertext,
      iv: s.iv,
      protected: s.protected,
    });
    setJwe(reordered);
    expect(Buffer.compare((await readFrames(rig.store, secrets, rows))[0] as Uint8Array, sent)).toBe(0);
    const mid = s.ciphertext.length >> 1;
    for (const ciphertext of [
      `${s.ciphertext.slice(0, mid)}$${s.ciphertext.slice(mid)}`, // a stray character
      `${s.ciphertext}=`, // padding
      s.ciphertext.replace(/-/g, '+').replace(/_/g, '/'), // the standard alphabet
      `${s.ciphertext.slice(0, mid)} ${s.ciphertext.slice(mid)}`, // white space
    ]) {
      if (ciphertext === s.ciphertext) continue;
      setJwe(JSON.stringify({ ...s, ciphertext }));
      await expect(readFrames(rig.store, secrets, rows)).rejects.toMatchObject({ code: 'integrity_error' });
    }
  });

  test('behavior: recipient rotation — new windows are wrapped for the new set only; old data keys stay readable by the old key', async () => {
    const dir = tmp();
    const recDir = join(dir, 'gateway', 'recipients');
    const oldKey = recipientPair('care-2025', 'rsa');
    const newKey = recipientPair('care-2026', 'ec');
    addRecipient(
      recDir,
      'care-2025',
      oldKey.recipient.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    );
    const rig = sealedRig(dir, watchRecipients(recDir));
    cleanups.push(() => rig.store.close());
    const a = rig.device('wr-a');
    await rig.ingest.submit(a.next(), 'wr-a');
    retireRecipient(recDir, 'care-2025');
    addRecipient(
      recDir,
      'care-2026',
      newKey.recipient.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    );
    await rig.ingest.submit(a.next(), 'wr-a');
    const rows = allRows(rig.store);
    expect(rig.store.db.prepare('SELECT count(*) FROM data_keys').pluck().get()).toBe(2);

    const old = [{ kid: 'care-2025', privateKey: oldKey.privateKey }];
    const neu = [{ kid: 'care-2026', privateKey: newKey.privateKey }];
    expect(await readFrames(rig.store, old, rows.slice(0, 1))).toHaveLength(1);
    await expect(readFrames(rig.store, old, rows.slice(1))).rejects.toMatchObject({
      code: 'no_recipient_key',
    });
    expect(await readFrames(rig.store, neu, rows.slice(1))).toHaveLength(1);
    await expect(readFrames(rig.store, neu, rows.slice(0, 1))).rejects.toMatchObject({
      code: 'no_recipient_key',
    });
    // A host with both keys reads the whole history.
    const both = await readFrames(rig.store, [...old, ...neu], rows);
    expect(both.every((f) => f instanceof Uint8Array)).toBe(true);
  });

  test('behavior: shredding destroys every wrapped copy of expired windows; those read as shredded, the rest and every proof stay valid', async () => {
    const dir = tmp();
    const r = recipientPair('care', 'ec');
    let now = T0;
    const rig = sealedRig(dir, [r.recipient], { now: () => now });
    cleanups.push(() => rig.store.close());
    const a = rig.device('wr-a');
    for (let i = 0; i < 5; i++) await rig.ingest.submit(a.next({ ts: now }), 'wr-a');
    const oldEnvelope = rig.store.db.prepare('SELECT envelope FROM data_keys').pluck().get() as string;
    const sealedOf = rig.store.db.prepare('SELECT envelope FROM sealed_frames WHERE leaf_index = ?').pluck();
    const oldCiphertexts = [0, 4].map((leaf) => sealedOf.get(leaf) as Buffer);
    now += 3 * HOUR;
    for (let i = 0; i < 5; i++) await rig.ingest.submit(a.next({ ts: now }), 'wr-a');

    // Window [T0, T0+1h) ended 2 h ago: its key goes, with one shredding record in the log.
    expect(shredExpired(rig.store, HOUR, now)).toEqual({
      keys: 1,
      records: 1,
      frames: 5,
      deleted: 5,
      more: false,
    });
    expect(shredExpired(rig.store, HOUR, now)).toEqual({
      keys: 0,
      records: 0,
      frames: 0,
      deleted: 0,
      more: false,
    });
    expect(rig.store.size).toBe(11);
    // Its ciphertexts went after it: its rows are tombstones (its key id, no envelope); the
    // other window's stay whole.
    expect(
      rig.store.db
        .prepare('SELECT leaf_index, length(envelope) > 0 FROM sealed_frames ORDER BY leaf_index')
        .raw()
        .all(),
    ).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((l) => [l, l >= 5 ? 1 : 0]));
    const stored = rig.store.db.prepare('SELECT leaf_index, record FROM shred_records').all() as {
      leaf_index: number;
      record: Buffer;
    }[];
    expect(stored.map((x) => x.leaf_index)).toEqual([10]);
    const recordBytes = new Uint8Array(stored[0]!.record);
    expect(Buffer.compare(hashLeaf(recordBytes), rig.store.getNode(0, 10))).toBe(0);
    expect(decodeShredRecord(recordBytes)).toEqual({
      dev: 'wr-a',
      window: { start: T0 - (T0 % HOUR), end: T0 - (T0 % HOUR) + HOUR },
      retentionMs: HOUR,
      at: now,
      leaves: [0, 1, 2, 3, 4],
      seqs: [1, 2, 3, 4, 5],
    });
    const rows = allRows(rig.store);
    const reader = new SealedReader(rig.store, [{ kid: 'care', privateKey: r.privateKey }]);
    const detailed = await reader.readDetailed(rows);
    const frames = detailed.map((d) => d.frame);
    expect(frames.slice(0, 5)).toEqual(Array(5).fill('shredded'));
    // The destroyed key's id (its tombstones keep it), the one its record names.
    expect(new Set(detailed.slice(0, 5).map((d) => d.keyId))).toEqual(
      new Set([rig.store.db.prepare('SELECT key_id FROM shred_records').pluck().get()]),
    );
    expect(frames.slice(5).every((f) => f instanceof Uint8Array)).toBe(true);
    const { readings, shredded } = await readReadings(rig.store, reader, 'wr-a', 0, Number.MAX_SAFE_INTEGER);
    expect([readings.length, shredded]).toEqual([5, 5]);

    // The log is untouched: every leaf, shredded or not, still proves against the root.
    const size = rig.store.size;
    const root = rig.store.root();
    for (const row of rows) {
      const leaf = rig.store.getNode(0, row.leafIndex);
      expect(() =>
        verifyInclusion(row.leafIndex, size, leaf, rig.store.inclusionProof(row.leafIndex, size), root),
      ).not.toThrow();
    }
    for (const [i, f] of frames.entries()) {
      if (f instanceof Uint8Array)
        expect(
          Buffer.compare(hashLeaf(f), rig.store.getNode(0, (rows[i] as { leafIndex: number }).leafIndex)),
        ).toBe(0);
    }
    // No wrapped copy of the destroyed key, and no ciphertext it sealed, is left in the database files.
    rig.store.close();
    const wrapped = (JSON.parse(oldEnvelope) as { recipients: { encrypted_key: string }[] }).recipients[0]
      ?.encrypted_key as string;
    const files = ['gateway.db', 'gateway.db-wal'].map((f) => join(dir, 'gateway', f));
    for (const f of files) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(f);
      } catch {
        continue;
      }
      expect(bytes.includes(Buffer.from(wrapped))).toBe(false);
      expect(bytes.includes(Buffer.from(oldEnvelope.slice(0, 200)))).toBe(false);
      for (const c of oldCiphertexts) expect(bytes.includes(c.subarray(0, 64))).toBe(false);
    }
  });

  test('behavior: a store written in the skeleton format (one JWE per batch) still reads, before and beside new frames', async () => {
    const dir = tmp();
    const r = recipientPair('records', 'ec');
    const dbPath = join(dir, 'gateway', 'gateway.db');
    // The skeleton's write path, verbatim: CBOR array of frames, sealBatch, commitBatch.
    const oldRig = sealedRig(dir, [r.recipient]);
    const a = oldRig.device('wr-a');
    const oldFrames = [a.next(), a.next(), a.next()];
    const store = oldRig.store;
    const batchId = store.nextBatchId();
    const firstLeaf = store.size;
    const envelope = await sealBatch(encode(oldFrames), [r.recipient], batchAad(batchId, firstLeaf));
    store.commitBatch({
      id: batchId,
      envelope,
      createdAt: Date.now(),
      frames: oldFrames.map((bytes, i) => ({
        dev: 'wr-a',
        seq: i + 1,
        hash: frameHash(bytes),
        prev: i === 0 ? new Uint8Array(32) : frameHash(oldFrames[i - 1] as Uint8Array),
        ts: Date.now(),
        leafHash: hashLeaf(bytes),
      })),
    });
    store.close();

    // Reopened by the new code; the chain continues in the new format.
    const reopened = openStore(dbPath);
    cleanups.push(() => reopened.close());
    const secrets = [{ kid: 'records', privateKey: r.privateKey }];
    const olds = await readFrames(reopened, secrets, allRows(reopened));
    for (const [i, f] of olds.entries()) {
      expect(Buffer.compare(f as Uint8Array, oldFrames[i] as Uint8Array)).toBe(0);
    }
    reopened.close();

    const rig = sealedRig(dir, [r.recipient]);
    cleanups.push(() => rig.store.close());
    const fresh = rig.device('wr-b');
    expect((await rig.ingest.submit(fresh.next(), 'wr-b')).status).toBe('accepted');
    const all = await readFrames(rig.store, secrets, allRows(rig.store));
    expect(all).toHaveLength(4);
    expect(all.every((f) => f instanceof Uint8Array)).toBe(true);
    const tampered = JSON.parse(envelope) as { ciphertext: string };
    tampered.ciphertext =
      `A${tampered.ciphertext.slice(1)}` === tampered.ciphertext
        ? `B${tampered.ciphertext.slice(1)}`
        : `A${tampered.ciphertext.slice(1)}`;
    rig.store.db
      .prepare('UPDATE batches SET envelope = ? WHERE id = ?')
      .run(JSON.stringify(tampered), batchId);
    await expect(readFrames(rig.store, secrets, allRows(rig.store).slice(0, 1))).rejects.toMatchObject({
      code: 'integrity_error',
    });
  });
});
