/**
 * @module test/integration/audit-trail-abstract
 * The abstract suite of an audit trail (io/ops `AuditTrail`; STYLE.md §4, as
 * binding-book-abstract.ts is for admissions): a gateway's own file log (io/ops
 * `FileAuditTrail`) and a gateway group's chain in PostgreSQL (io/shared `PgAuditTrail`, fed
 * by the gateway's shipper) must read and verify alike: events appended to the gateway's
 * audit log read back in order, each with its fields; an untouched trail verifies; an edited
 * entry (`chain_broken`), a deleted entry and a reordered pair (`out_of_sequence`) are each
 * detected. Each trail brings its own tampering: a file line rewritten, or a row updated or
 * deleted as someone with the database's password could.
 */
import { describe, expect, it } from 'vitest';
import type {
  AuditEventType,
  AuditFields,
  AuditTrail,
  AuditTrailEntry,
} from '../../gateway/src/io/ops/index.js';
import { fixturePerTest } from '../helpers/contract.js';

export interface AuditEventSpec {
  event: AuditEventType;
  fields: AuditFields;
}

/** A fresh trail over a fresh gateway audit log, and the tampering of its store. */
export interface AuditTrailFixture {
  trail: AuditTrail;
  /** Appends to the gateway's audit log and returns once the trail holds every event. */
  append(events: readonly AuditEventSpec[]): Promise<void>;
  /** Rewrites the entry of `seq` with another device id (its line stays JSON). */
  edit(seq: number): Promise<void>;
  /** Deletes the entry of `seq`. */
  remove(seq: number): Promise<void>;
  /** Puts the entries of `seq` and `seq + 1` in each other's place. */
  swap(seq: number): Promise<void>;
  close(): Promise<void>;
}

/** The line of an entry with its `dev` changed: what an edit of a view's patient looks like. */
export function editedLine(line: string): string {
  return JSON.stringify({ ...(JSON.parse(line) as object), dev: 'wr-0666' });
}

const EVENTS: readonly AuditEventSpec[] = [
  { event: 'login', fields: { user: 'nurse.kim', remote: '10.0.0.7' } },
  { event: 'patient_view', fields: { user: 'nurse.kim', dev: 'wr-0001', detail: '/api/patients/:dev' } },
  { event: 'alarm_raised', fields: { dev: 'wr-0002', code: 'spo2_low', detail: 'high a-1' } },
  {
    event: 'alarm_acknowledged',
    fields: { dev: 'wr-0002', user: 'nurse.kim', code: 'spo2_low', detail: 'high a-1' },
  },
  {
    event: 'patient_data_view',
    fields: { user: 'dr.lee', dev: 'wr-0003', detail: '/api/devices/:dev/trend' },
  },
  { event: 'logout', fields: { user: 'nurse.kim' } },
];

async function all(trail: AuditTrail, from?: number): Promise<AuditTrailEntry[]> {
  const out: AuditTrailEntry[] = [];
  for await (const e of from === undefined ? trail.entries() : trail.entries(from)) out.push(e);
  return out;
}

/** Registers the suite under `describe(name)`; `open` runs once per test. */
export function describeAuditTrail(name: string, open: () => Promise<AuditTrailFixture>): void {
  describe(`AuditTrail contract: ${name}`, () => {
    const fx = fixturePerTest(open);

    it('behavior: appended events read back in order, each with its fields, from any entry on', async () => {
      const f = await fx.fresh();
      await f.append(EVENTS.slice(0, 2));
      await f.append(EVENTS.slice(2));
      const entries = await all(f.trail);
      expect(entries.map((e) => e.n)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      for (const [i, e] of entries.entries()) {
        const spec = EVENTS[i] as AuditEventSpec;
        const rec = JSON.parse(e.line) as Record<string, unknown>;
        expect(rec).toEqual({
          n: i + 1,
          t: expect.any(Number),
          event: spec.event,
          ...spec.fields,
          prev: expect.any(String),
        });
        expect(e.gateway).toBe('gw-a');
      }
      expect((await all(f.trail, 4)).map((e) => JSON.parse(e.line).event)).toEqual([
        'alarm_acknowledged',
        'patient_data_view',
        'logout',
      ]);
    });

    it('behavior: an untouched trail verifies', async () => {
      const f = await fx.fresh();
      await f.append(EVENTS);
      expect(await f.trail.verify()).toMatchObject({ ok: true, entries: 6, problems: [] });
    });

    it('error: an edited entry is detected (chain_broken)', async () => {
      const f = await fx.fresh();
      await f.append(EVENTS);
      await f.edit(3);
      const r = await f.trail.verify();
      expect(r.ok).toBe(false);
      expect(r.problems.map((p) => p.code)).toContain('chain_broken');
      expect(JSON.parse((await all(f.trail, 3))[0]?.line as string).dev).toBe('wr-0666');
    });

    it('error: a deleted entry is detected (out_of_sequence)', async () => {
      const f = await fx.fresh();
      await f.append(EVENTS);
      await f.remove(3);
      const r = await f.trail.verify();
      expect(r.ok).toBe(false);
      expect(r.problems.map((p) => p.code)).toContain('out_of_sequence');
      expect((await all(f.trail)).map((e) => e.n)).toEqual([1, 2, 4, 5, 6]);
    });

    it('error: a reordered pair of entries is detected (out_of_sequence)', async () => {
      const f = await fx.fresh();
      await f.append(EVENTS);
      await f.swap(3);
      const r = await f.trail.verify();
      expect(r.ok).toBe(false);
      expect(r.problems.map((p) => p.code)).toContain('out_of_sequence');
      expect((await all(f.trail)).map((e) => e.n)).toEqual([1, 2, 4, 3, 5, 6]);
    });
  });
}
