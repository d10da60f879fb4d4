/**
 * @module test/unit/store-schema
 * One owner per table (STYLE.md §9): every table and index of the SQLite store is declared
 * in gateway/src/io/store/migrations.ts (its owners named in store/schema.ts), every table of the PostgreSQL state a gateway group
 * shares in gateway/src/io/shared/schema.ts (issue 16), and every SQL statement that names a
 * table lives in the module `TABLE_OWNERS` or `PG_TABLE_OWNERS` gives for it. A static scan
 * of the source text, like verify-imports.test.ts: SQL keywords are upper case in this code
 * base, prose is not.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PG_TABLE_OWNERS } from '../../gateway/src/io/shared/schema.js';
import { TABLE_OWNERS } from '../../gateway/src/io/store/schema.js';

const IO = new URL('../../gateway/src/io/', import.meta.url).pathname;
const ROOT = new URL('../../', import.meta.url).pathname;
const SOURCES = ['gateway/src', 'anchor/src', 'firmware-sim/src'].map((d) => join(ROOT, d));
/** Where the SQLite store's DDL is, and the module that runs it (it reads and writes `meta`). */
const MIGRATIONS_FILE = 'store/migrations.ts';
const SCHEMA_FILE = 'store/schema.ts';
const PG_SCHEMA_FILE = 'shared/schema.ts';
/** Every table of either database, with its owner (the two sets of names are disjoint). */
const OWNERS: Readonly<Record<string, string>> = { ...TABLE_OWNERS, ...PG_TABLE_OWNERS };

/** Table names after FROM / INTO / UPDATE / JOIN / TABLE / INDEX … ON, in upper-case SQL. */
const TABLE_REF =
  /\b(?:FROM|INTO|UPDATE|JOIN|TABLE(?: IF NOT EXISTS)?|INDEX(?: IF NOT EXISTS)? [a-z_]+ ON)\s+([a-z_]+)/g;
const DDL =
  /\bCREATE (?:OR REPLACE )?(?:TABLE|INDEX|UNIQUE INDEX|VIEW|TRIGGER|FUNCTION|SEQUENCE)\b|\bALTER TABLE\b|\bDROP (?:TABLE|FUNCTION|TRIGGER|SEQUENCE)\b/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** Every (file, table) reference in the sources. */
function references(): { file: string; table: string }[] {
  const out: { file: string; table: string }[] = [];
  for (const f of SOURCES.flatMap(sourceFiles)) {
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(TABLE_REF)) out.push({ file: relative(ROOT, f), table: m[1] as string });
  }
  return out;
}

const ownerOf = (t: string): string | undefined =>
  Object.hasOwn(OWNERS, t) ? `gateway/src/io/${OWNERS[t]}` : undefined;
const SCHEMA_FILES = [MIGRATIONS_FILE, SCHEMA_FILE, PG_SCHEMA_FILE].map((f) => `gateway/src/io/${f}`);
const DDL_FILES = [MIGRATIONS_FILE, PG_SCHEMA_FILE].map((f) => `gateway/src/io/${f}`);

describe('store schema ownership', () => {
  const refs = references();

  it('behavior: the scan sees the statements it must (self-check)', () => {
    expect(refs).toContainEqual({ file: 'gateway/src/io/store/store.ts', table: 'frames' });
    expect(refs).toContainEqual({ file: 'gateway/src/io/store/sealed.ts', table: 'sealed_frames' });
    expect(refs).toContainEqual({
      file: 'gateway/src/io/store/migrations.ts',
      table: 'dashboard_alarm_events',
    });
    expect(refs).toContainEqual({ file: 'gateway/src/io/shared/pg-users.ts', table: 'users' });
    expect(refs).toContainEqual({ file: 'gateway/src/io/shared/schema.ts', table: 'schema_version' });
  });

  it('behavior: no table name is used by both databases (each has one owner)', () => {
    expect(Object.keys(PG_TABLE_OWNERS).filter((t) => Object.hasOwn(TABLE_OWNERS, t))).toEqual([]);
  });

  it('behavior: every owner module exists and names its tables', () => {
    for (const [table, owner] of Object.entries(OWNERS)) {
      const src = readFileSync(join(IO, owner), 'utf8');
      expect(src, `${owner} owns ${table}`).toMatch(new RegExp(`\\b${table}\\b`));
    }
  });

  it('behavior: every statement naming a table lives in that table’s owner (or the schema)', () => {
    const strays = refs.filter(
      (r) => ownerOf(r.table) !== undefined && r.file !== ownerOf(r.table) && !SCHEMA_FILES.includes(r.file),
    );
    expect(strays).toEqual([]);
  });

  it('behavior: no statement names a table the schema does not declare', () => {
    // SQL keywords followed by a lower-case word that is not a table: aliases and functions
    // (json_each: SQLite's table-valued function, a list of keys bound as one JSON parameter).
    const notTables = new Set(['excluded', 'sqlite_master', 'json_each']);
    const unknown = refs.filter((r) => ownerOf(r.table) === undefined && !notTables.has(r.table));
    expect(unknown).toEqual([]);
  });

  it('behavior: tables, indexes, triggers and functions are created, altered or dropped only in the two DDL modules', () => {
    const ddl = SOURCES.flatMap(sourceFiles)
      .filter((f) => DDL.test(readFileSync(f, 'utf8')))
      .map((f) => relative(ROOT, f))
      .sort();
    expect(ddl).toEqual([...DDL_FILES].sort());
  });

  it('error: the DDL rule would catch PostgreSQL DDL outside the schema modules (self-check)', () => {
    expect(DDL.test('CREATE FUNCTION users_stamp() RETURNS trigger')).toBe(true);
    expect(DDL.test('CREATE SEQUENCE users_change_no')).toBe(true);
    expect(DDL.test('create a table of users')).toBe(false);
  });
});
