/**
 * @module test/unit/store-schema
 * One owner per table (STYLE.md §9): every table and index is declared in
 * gateway/src/io/store/schema.ts, and every SQL statement that names a table lives in the
 * module `TABLE_OWNERS` gives for it. A static scan of the source text, like
 * verify-imports.test.ts: SQL keywords are upper case in this code base, prose is not.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TABLE_OWNERS, type TableName } from '../../gateway/src/io/store/schema.js';

const IO = new URL('../../gateway/src/io/', import.meta.url).pathname;
const ROOT = new URL('../../', import.meta.url).pathname;
const SOURCES = ['gateway/src', 'anchor/src', 'firmware-sim/src'].map((d) => join(ROOT, d));
const SCHEMA_FILE = 'store/schema.ts';

/** Table names after FROM / INTO / UPDATE / JOIN / TABLE / INDEX … ON, in upper-case SQL. */
const TABLE_REF =
  /\b(?:FROM|INTO|UPDATE|JOIN|TABLE(?: IF NOT EXISTS)?|INDEX(?: IF NOT EXISTS)? [a-z_]+ ON)\s+([a-z_]+)/g;
const DDL = /\bCREATE (?:TABLE|INDEX|UNIQUE INDEX|VIEW|TRIGGER)\b|\bALTER TABLE\b|\bDROP TABLE\b/;

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
  Object.hasOwn(TABLE_OWNERS, t) ? `gateway/src/io/${TABLE_OWNERS[t as TableName]}` : undefined;

describe('store schema ownership', () => {
  const refs = references();

  it('behavior: the scan sees the statements it must (self-check)', () => {
    expect(refs).toContainEqual({ file: 'gateway/src/io/store/store.ts', table: 'frames' });
    expect(refs).toContainEqual({ file: 'gateway/src/io/store/sealed.ts', table: 'sealed_frames' });
    expect(refs).toContainEqual({ file: 'gateway/src/io/store/schema.ts', table: 'dashboard_alarm_events' });
  });

  it('behavior: every owner module exists and names its tables', () => {
    for (const [table, owner] of Object.entries(TABLE_OWNERS)) {
      const src = readFileSync(join(IO, owner), 'utf8');
      expect(src, `${owner} owns ${table}`).toMatch(new RegExp(`\\b${table}\\b`));
    }
  });

  it('behavior: every statement naming a table lives in that table’s owner (or the schema)', () => {
    const strays = refs.filter(
      (r) =>
        ownerOf(r.table) !== undefined &&
        r.file !== ownerOf(r.table) &&
        r.file !== `gateway/src/io/${SCHEMA_FILE}`,
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

  it('behavior: tables and indexes are created, altered or dropped only in the schema module', () => {
    const ddl = SOURCES.flatMap(sourceFiles)
      .filter((f) => DDL.test(readFileSync(f, 'utf8')))
      .map((f) => relative(ROOT, f));
    expect(ddl).toEqual([`gateway/src/io/${SCHEMA_FILE}`]);
  });
});
