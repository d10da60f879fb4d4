/**
 * @module test/integration/session-share-abstract
 * The abstract suite of the sessions kept beyond a gateway's memory (io/identity
 * `SessionShare`; STYLE.md §4, as settings-rows-abstract.ts is for the settings rows): the
 * data dir's SQLite store (io/identity `SqliteSessions`, a lone gateway) and a gateway group's
 * PostgreSQL (io/shared `PgSessions`) must behave alike under io/http/sessions: a session put
 * is found while used within the idle time and not after; a touch gives the latest use (it
 * never goes back) and keeps the session; a removal ends it (touch null) and is heard by
 * `onRemoved`; a second put (a password change) updates the stamp and the password state
 * and keeps who and since when; only the hash of an id is stored; a malformed hash is
 * never found, never stored and never throws from `find`/`touch`/`remove`; another instance
 * over the same database (a restarted gateway, another gateway of the group) sees the same
 * sessions, uses and ends.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SessionShare, SharedSessionRow } from '../../gateway/src/io/identity/index.js';
import { fixturePerTest, rejection } from '../helpers/contract.js';

/** A fresh, empty store of sessions and another instance over the same database. */
export interface SessionShareFixture {
  share: SessionShare;
  /** Another instance over the same database. */
  twin(): Promise<SessionShare>;
  /**
   * Whether `onRemoved` of one instance hears a removal made through another: true for a
   * group's database (its notification); false for SQLite, whose one writer is its gateway
   * (another instance learns of the end at its next `touch`, which gives null).
   */
  heardAcross: boolean;
  /** Every stored session row, as text (what a disk or a dump holds). */
  storedText(): Promise<string>;
  close(): Promise<void>;
}

const T = Date.UTC(2026, 11, 3, 8, 0, 0);
const IDLE = 15 * 60_000;
/** Long enough for a notification between two clients of one local PostgreSQL. */
const HEARD_WITHIN_MS = 5000;

/** A session id as io/http/sessions issues it, and the hash it is stored under. */
function newSession(): { id: string; hash: string } {
  const id = randomBytes(32).toString('base64url');
  return { id, hash: createHash('sha256').update(id).digest('hex') };
}

function rowOf(hash: string, over: Partial<SharedSessionRow> = {}): SharedSessionRow {
  return {
    hash,
    username: 'kim',
    role: 'nurse',
    stamp: 'stamp-at-sign-in',
    mustChange: false,
    createdAt: T,
    lastSeen: T,
    ...over,
  };
}

/** Resolves with the hashes `share` hears removed, until `n` arrived (or the deadline). */
function heard(share: SessionShare, n: number): Promise<string[]> {
  return new Promise((resolve) => {
    const got: string[] = [];
    const done = (): void => {
      clearTimeout(timer);
      off();
      resolve(got);
    };
    const timer = setTimeout(done, HEARD_WITHIN_MS);
    const off = share.onRemoved((hash) => {
      got.push(hash);
      if (got.length >= n) done();
    });
  });
}

/** Registers the suite under `describe(name)`; `open` runs once per test. */
export function describeSessionShare(name: string, open: () => Promise<SessionShareFixture>): void {
  describe(`SessionShare contract: ${name}`, () => {
    const fx = fixturePerTest(open);

    it('behavior: a session put is found, whole; an unknown hash is not', async () => {
      const { share } = await fx.fresh();
      const { hash } = newSession();
      const row = rowOf(hash, { role: 'charge_nurse', mustChange: true, lastSeen: T + 10 });
      await share.put(row);
      expect(await share.find(hash, T + 20, IDLE)).toEqual(row);
      expect(await share.find(newSession().hash, T + 20, IDLE)).toBeNull();
    });

    it('behavior: found while used within the idle time, not once it passed', async () => {
      const { share } = await fx.fresh();
      const { hash } = newSession();
      await share.put(rowOf(hash));
      expect((await share.find(hash, T + IDLE - 1, IDLE))?.hash).toBe(hash);
      expect(await share.find(hash, T + IDLE, IDLE)).toBeNull();
      expect(await share.find(hash, T + 2 * IDLE, IDLE)).toBeNull();
    });

    it('behavior: a touch gives the latest use, never an earlier one, and keeps the session', async () => {
      const { share } = await fx.fresh();
      const { hash } = newSession();
      await share.put(rowOf(hash));
      expect(await share.touch(hash, T + 60_000)).toBe(T + 60_000);
      // A late touch (an older request answered last) does not move the use back.
      expect(await share.touch(hash, T + 30_000)).toBe(T + 60_000);
      const found = await share.find(hash, T + IDLE + 1000, IDLE);
      expect(found?.lastSeen).toBe(T + 60_000);
      expect(await share.touch(newSession().hash, T)).toBeNull();
    });

    it('behavior: a removal ends the session (touch null) and onRemoved hears it, once', async () => {
      const { share } = await fx.fresh();
      const a = newSession();
      const b = newSession();
      await share.put(rowOf(a.hash));
      await share.put(rowOf(b.hash, { username: 'lee' }));
      const ends = heard(share, 2);
      await share.remove(a.hash);
      await share.remove(a.hash); // again: nothing left to end, nothing heard
      await share.remove(newSession().hash); // never stored: nothing heard
      await share.remove(b.hash);
      expect(await ends).toEqual([a.hash, b.hash]);
      expect(await share.find(a.hash, T, IDLE)).toBeNull();
      expect(await share.touch(a.hash, T + 1)).toBeNull();
      expect(await share.touch(b.hash, T + 1)).toBeNull();
    });

    it('behavior: an unsubscribed listener hears nothing more; a throwing one does not stop the others', async () => {
      const { share } = await fx.fresh();
      const a = newSession();
      const b = newSession();
      await share.put(rowOf(a.hash));
      await share.put(rowOf(b.hash));
      const gone: string[] = [];
      const off = share.onRemoved((h) => gone.push(h));
      share.onRemoved(() => {
        throw new Error('a failing listener');
      });
      const first = heard(share, 1);
      await share.remove(a.hash);
      expect(await first).toEqual([a.hash]);
      off();
      const second = heard(share, 1);
      await share.remove(b.hash);
      expect(await second).toEqual([b.hash]);
      expect(gone).toEqual([a.hash]);
    });

    it('behavior: a second put (a password change) updates stamp and password state, keeps who and since when', async () => {
      const { share } = await fx.fresh();
      const { hash } = newSession();
      await share.put(rowOf(hash, { mustChange: true }));
      await share.touch(hash, T + 50_000);
      await share.put(
        rowOf(hash, {
          username: 'someone-else',
          role: 'admin',
          stamp: 'stamp-after-change',
          mustChange: false,
          createdAt: T + 40_000,
          lastSeen: T + 40_000, // older than the last touch: the use does not go back
        }),
      );
      expect(await share.find(hash, T + 60_000, IDLE)).toEqual(
        rowOf(hash, { stamp: 'stamp-after-change', mustChange: false, lastSeen: T + 50_000 }),
      );
    });

    it('behavior: only the hash of a session id is stored, never the id', async () => {
      const f = await fx.fresh();
      const s = newSession();
      await f.share.put(rowOf(s.hash));
      const text = await f.storedText();
      expect(text).toContain(s.hash);
      expect(text).not.toContain(s.id);
      expect(text).not.toContain(Buffer.from(s.id, 'base64url').toString('hex'));
    });

    it('error: a malformed hash is never found, never stored, and find/touch/remove do not throw', async () => {
      const f = await fx.fresh();
      const { hash } = newSession();
      await f.share.put(rowOf(hash));
      const malformed = [
        '',
        hash.toUpperCase(),
        hash.slice(0, 63),
        `${hash}0`,
        `${hash.slice(0, 63)}g`,
        "' OR '1'='1",
        `${hash}\n`,
        `%${hash.slice(1)}`,
      ];
      for (const bad of malformed) {
        expect(await f.share.find(bad, T, IDLE)).toBeNull();
        expect(await f.share.touch(bad, T + 1)).toBeNull();
        await f.share.remove(bad);
      }
      expect((await f.share.find(hash, T, IDLE))?.hash).toBe(hash); // nothing else was touched or removed
      expect((await f.share.find(hash, T, IDLE))?.lastSeen).toBe(T);
      for (const bad of ['', hash.toUpperCase(), "x'); DELETE FROM sessions; --"]) {
        expect(await rejection(f.share.put(rowOf(bad)))).toBeInstanceOf(Error);
      }
      const text = await f.storedText();
      expect(text).not.toContain(hash.toUpperCase());
      expect(text).not.toContain('DELETE');
    });

    it('behavior: another instance over the same database sees the sessions, their uses and their ends', async () => {
      const f = await fx.fresh();
      const a = newSession();
      const b = newSession();
      await f.share.put(rowOf(a.hash));
      await f.share.put(rowOf(b.hash, { username: 'lee' }));
      const twin = await f.twin();
      expect(await twin.find(a.hash, T + 1000, IDLE)).toEqual(rowOf(a.hash));
      expect(await twin.touch(a.hash, T + 90_000)).toBe(T + 90_000);
      expect(await f.share.touch(a.hash, T + 80_000)).toBe(T + 90_000); // the latest use, made there
      const ends = f.heardAcross ? heard(f.share, 1) : null;
      await twin.remove(a.hash);
      if (ends) expect(await ends).toEqual([a.hash]);
      expect(await f.share.touch(a.hash, T + 91_000)).toBeNull(); // how a holder learns at the latest
      expect((await f.share.find(b.hash, T + 1000, IDLE))?.username).toBe('lee');
    });
  });
}
