/**
 * @module test/unit/house-rules
 * The layout is the architecture (docs/ARCHITECTURE.md "Layers"), kept true by a static
 * walk of the import statements of every source file (type-only imports included, as in
 * verify-imports.test.ts):
 * - a room imports only rooms of a lower layer (no upward import);
 * - each folder of gateway/src/io is entered from outside only through its `index.ts`;
 * - no import cycle between source files;
 * - no folder of gateway/src/io holds more than about ten files, and no source file is
 *   longer than about 500 lines.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(new URL('../../', import.meta.url).pathname);
const SOURCE_DIRS = ['gateway/src', 'anchor/src', 'firmware-sim/src'];
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;

/**
 * The layers, bottom up. A room may import its own files and rooms of lower layers only.
 * Rooms of one layer do not import each other.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['gateway/src/protocol'],
  ['gateway/src/core', 'anchor/src/contracts', 'anchor/src/log', 'anchor/src/kgc'],
  ['anchor/src/ledger'],
  [
    'anchor/src/verify',
    'anchor/src/consent',
    'gateway/src/io/ops',
    'gateway/src/io/reading',
    'gateway/src/io/loop',
  ],
  ['gateway/src/io/store', 'anchor/src/verify-access', 'gateway/src/io/verify'],
  [
    'gateway/src/io/identity',
    'gateway/src/io/anchoring',
    'gateway/src/io/clinical',
    'gateway/src/io/data-keys',
    'gateway/src/io/queries',
  ],
  [
    'gateway/src/io/ingest',
    'gateway/src/io/outbound',
    'gateway/src/io/interfaces',
    'gateway/src/io/shared',
    'gateway/src/io/access',
    'gateway/src/io/care',
  ],
  ['gateway/src/io/transport', 'firmware-sim/src'],
  ['gateway/src/io/http'],
  ['gateway/src/app'],
  ['gateway/src/cli'],
];

/**
 * Imports that cross the layers on purpose, each with its reason.
 * - The simulated device drives a serial line with the gateway's own keep-open port
 *   (one implementation of the serialport workaround in STACK-NOTES.md), while the device
 *   side of the protocol itself lives in firmware-sim.
 */
const ALLOWED: readonly { from: string; to: string }[] = [
  { from: 'firmware-sim/src/serial-transport.ts', to: 'gateway/src/io/transport/serial-port.ts' },
];

/** Files longer than the house limit on purpose (generated or data tables). */
const LONG_FILES: readonly string[] = [];
const MAX_LINES = 500;
const MAX_FILES_PER_IO_FOLDER = 12;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

const FILES = SOURCE_DIRS.flatMap((d) => sourceFiles(join(ROOT, d))).map((f) => relative(ROOT, f));

function importsOf(file: string): string[] {
  const src = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(IMPORT)) {
    const spec = (m[1] ?? m[2] ?? m[3]) as string;
    if (!spec.startsWith('.')) continue;
    out.push(relative(ROOT, resolve(dirname(join(ROOT, file)), spec)).replace(/\.js$/, '.ts'));
  }
  return out;
}

/** The room of a file: the longest listed folder that contains it. */
function roomOf(file: string): string | undefined {
  let best: string | undefined;
  for (const room of LAYERS.flat()) {
    if (file.startsWith(`${room}/`) && (best === undefined || room.length > best.length)) best = room;
  }
  return best;
}

const layerOf = (room: string): number => LAYERS.findIndex((l) => l.includes(room));

/** Every import that breaks the layer rule. */
function violations(files: readonly string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const from = roomOf(f);
    for (const t of importsOf(f)) {
      const to = roomOf(t);
      if (from === undefined || to === undefined || from === to) continue;
      if (ALLOWED.some((a) => a.from === f && a.to === t)) continue;
      if (layerOf(to) >= layerOf(from)) out.push(`${f} -> ${t}`);
    }
  }
  return out;
}

describe('house rules', () => {
  it('behavior: every source file belongs to a room of the layer table', () => {
    expect(FILES.filter((f) => roomOf(f) === undefined)).toEqual([]);
  });

  it('behavior: no room imports a room of its own or a higher layer', () => {
    expect(violations(FILES)).toEqual([]);
  });

  it('error: the rule would catch an upward import (self-check on known imports)', () => {
    // The CLI imports app/, which is below it: reversed, that is an upward import.
    const edges = FILES.flatMap((f) => importsOf(f).map((t) => ({ f, t })));
    const down = edges.find((e) => roomOf(e.f) === 'gateway/src/cli' && roomOf(e.t) === 'gateway/src/app');
    expect(down).toBeDefined();
    expect(layerOf('gateway/src/app')).toBeLessThan(layerOf('gateway/src/cli'));
    const io = edges.find(
      (e) => roomOf(e.f) === 'gateway/src/io/transport' && roomOf(e.t) === 'gateway/src/io/ingest',
    );
    expect(io).toBeDefined();
  });

  it('behavior: a folder of gateway/src/io is entered from outside only through its index.ts', () => {
    const ioFolder = (f: string): string | undefined => f.match(/^gateway\/src\/io\/([^/]+)\//)?.[1];
    const bypass = FILES.flatMap((f) =>
      importsOf(f)
        .filter((t) => {
          const to = ioFolder(t);
          if (to === undefined || to === ioFolder(f)) return false;
          if (ALLOWED.some((a) => a.from === f && a.to === t)) return false;
          return t !== `gateway/src/io/${to}/index.ts`;
        })
        .map((t) => `${f} -> ${t}`),
    );
    expect(bypass).toEqual([]);
    // Self-check: the app reaches io/ at all, and through the doors.
    expect(importsOf('gateway/src/app/core-steps.ts')).toContain('gateway/src/io/store/index.ts');
  });

  it('behavior: no import cycle between source files', () => {
    const graph = new Map(FILES.map((f) => [f, importsOf(f).filter((t) => FILES.includes(t))]));
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const t of graph.get(f) ?? []) visit(t, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of FILES) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it(`behavior: no folder of gateway/src/io holds more than ${MAX_FILES_PER_IO_FOLDER} files`, () => {
    const io = join(ROOT, 'gateway/src/io');
    expect(readdirSync(io).filter((n) => n.endsWith('.ts'))).toEqual([]); // only folders at the top
    const big = readdirSync(io)
      .map((d) => ({ d, n: readdirSync(join(io, d)).length }))
      .filter((x) => x.n > MAX_FILES_PER_IO_FOLDER);
    expect(big).toEqual([]);
  });

  it('behavior: every source file opens with a @module header', () => {
    const bare = FILES.filter((f) => !/^\/\*\*\n \* @module \S+/.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(bare).toEqual([]);
  });

  it(`behavior: no source file is longer than ${MAX_LINES} lines`, () => {
    const long = [...FILES, ...sourceFiles(join(ROOT, 'dashboards')).map((f) => relative(ROOT, f))]
      .concat(
        readdirSync(join(ROOT, 'dashboards'), { recursive: true })
          .map(String)
          .filter((f) => f.endsWith('.js'))
          .map((f) => `dashboards/${f}`),
      )
      .filter((f) => !LONG_FILES.includes(f))
      .map((f) => ({ f, lines: readFileSync(join(ROOT, f), 'utf8').split('\n').length }))
      .filter((x) => x.lines > MAX_LINES);
    expect(long).toEqual([]);
  });
});
