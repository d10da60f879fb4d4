/**
 * Code registries, documentation and types stay in sync (STYLE.md §3, after fastify's
 * errors test): every code of the one registry (`gateway/src/protocol/error-codes.ts`) has a
 * row in the README with the same HTTP status and meaning, the README documents no code the
 * registry lacks, every code the sources raise or return is registered, and a code shared by
 * several groups (PROTOCOL.md §1 rejections, verifier verdicts, error classes) has one meaning.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { LEDGER_ERROR_CODES } from '../../anchor/src/contracts/ledger-error.js';
import { NOTE_ERROR_CODES } from '../../anchor/src/log/note.js';
import { ENTRY_CODES } from '../../anchor/src/verify/entries.js';
import { SHREDDING_CODES } from '../../anchor/src/verify/shreddings.js';
import { errorBody, errorReply, HttpError } from '../../gateway/src/io/http/errors.js';
import { isRejectionCode, REJECTION_CODES } from '../../gateway/src/protocol/codes.js';
import {
  ERROR_CODES,
  ERROR_GROUPS,
  type ErrorGroup,
  type HttpErrorCode,
  isErrorCode,
  meaningsOf,
} from '../../gateway/src/protocol/error-codes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const ALL_CODES_HEADING = '### Every error code';

/** The table rows (split into cells) right under a README heading. */
function rowsUnder(heading: string): string[][] {
  const at = README.indexOf(heading);
  expect(at, `README has "${heading}"`).toBeGreaterThan(-1);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of README.slice(at).split('\n').slice(1)) {
    if (line.startsWith('|')) {
      inTable = true;
      rows.push(
        line
          .slice(1, -1)
          .split(' | ')
          .map((c) => c.trim()),
      );
    } else if (inTable) {
      break;
    }
  }
  return rows.filter((r) => /^`[a-z][a-z0-9_]*`$/.test(r[0] ?? ''));
}

/** The `| code | meaning |` rows of the table under a README heading. */
function tableUnder(heading: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [code, meaning, ...rest] of rowsUnder(heading)) {
    expect(rest, `${code} has two cells`).toEqual([]);
    out[code!.slice(1, -1)] = meaning!;
  }
  return out;
}

/** The `| code | HTTP | meaning |` rows of the README's table of every code. */
function allCodesTable(): Record<string, { status: number | null; meaning: string }> {
  const out: Record<string, { status: number | null; meaning: string }> = {};
  for (const [code, status, meaning, ...rest] of rowsUnder(ALL_CODES_HEADING)) {
    expect(rest, `${code} has three cells`).toEqual([]);
    const c = code!.slice(1, -1);
    expect(out[c], `${c} is listed once`).toBeUndefined();
    out[c] = { status: status === '—' ? null : Number(status), meaning: meaning! };
  }
  return out;
}

/** `.ts` files under a directory, recursively. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Vocabularies that are not error codes: their `code: '…'` literals are not scanned. */
const OTHER_VOCABULARIES: Record<string, string> = {
  'gateway/src/core/alarms/conditions.ts': 'alarm condition codes (IEC 60601-1-8), the README Alarms table',
  'gateway/src/core/fhir/codes.ts': 'FHIR codings (LOINC, HL7 code systems)',
};
const BUILTIN_ERRORS = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError']);

/** Code literals a source text raises or returns: `new XError('code'`, `code: 'code'`, … */
function codesIn(text: string, scanCodeFields: boolean): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/new (\w*Error)(?:<[^>(]*>)?\(\s*'([a-z][a-z0-9_]*)'/g)) {
    if (!BUILTIN_ERRORS.has(m[1]!)) out.push(m[2]!);
  }
  for (const m of text.matchAll(
    /\b(?:errorReply|errorBody|isVitalTrailError\(\w+,)\s*\(?\s*'([a-z][a-z0-9_]*)'/g,
  )) {
    out.push(m[1]!);
  }
  if (scanCodeFields) for (const m of text.matchAll(/\bcode: '([a-z][a-z0-9_]*)'/g)) out.push(m[1]!);
  return out;
}

describe('code registries match the README', () => {
  test('behavior: rejection codes (PROTOCOL.md §1) and the README table are the same set, same meanings', () => {
    expect(tableUnder('### Codes a device can receive')).toEqual({ ...REJECTION_CODES });
  });

  test('behavior: verifier entry codes and the README table are the same set, same meanings', () => {
    expect(tableUnder('### Codes the verifier reports per entry')).toEqual({ ...ENTRY_CODES });
  });

  test('behavior: every rejection code is one PROTOCOL.md §1 names in brackets, or a README extension of it', () => {
    const protocol = readFileSync(new URL('../../../shared/PROTOCOL.md', import.meta.url), 'utf8');
    const bracketed = new Set(
      [...protocol.matchAll(/\[(`[a-z_]+`(?:, `[a-z_]+`)*)\]/g)].flatMap(
        (m) => m[1]!.match(/[a-z_]+/g) ?? [],
      ),
    );
    // The page is the consortium's; codes it does not list yet are named in one README
    // sentence ("Extensions to PROTOCOL.md §1 …: `a`, `b`.") and proposed to its owners.
    const sentence = /Extensions to PROTOCOL\.md §1 \([^)]*\):((?:\s*`[a-z_]+`,?)+)\./.exec(README);
    const extensions = new Set(sentence?.[1]?.match(/[a-z_]+/g) ?? []);
    for (const code of extensions)
      expect(bracketed.has(code), `${code} is in PROTOCOL.md already`).toBe(false);
    expect(new Set([...bracketed, ...extensions])).toEqual(new Set(Object.keys(REJECTION_CODES)));
  });

  test('behavior: every registry code has a README row with its HTTP status and meaning, and no other code has one', () => {
    const expected = Object.fromEntries(
      Object.entries(ERROR_CODES).map(([code, spec]) => [
        code,
        { status: 'http' in spec ? spec.http.status : null, meaning: spec.meaning },
      ]),
    );
    expect(allCodesTable()).toEqual(expected);
  });

  test('error: isRejectionCode and isErrorCode refuse anything else', () => {
    expect(isRejectionCode('bad_signature')).toBe(true);
    expect(isRejectionCode('integrity_error')).toBe(false);
    expect(isRejectionCode('toString')).toBe(false);
    expect(isRejectionCode('')).toBe(false);
    expect(isErrorCode('integrity_error')).toBe(true);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode('')).toBe(false);
  });
});

describe('one registry of error codes', () => {
  test('behavior: codes are short snake_case names, and each meaning and reason is one line without a table pipe', () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
      expect(spec.meaning).not.toMatch(/[|\n]/);
      if ('http' in spec) expect(spec.http.reason).not.toMatch(/[|\n]/);
    }
  });

  test('behavior: every group names registered codes once, and every registered code is in a group', () => {
    const grouped = new Set<string>();
    for (const [group, codes] of Object.entries(ERROR_GROUPS)) {
      expect(new Set(codes).size, `${group} lists a code twice`).toBe(codes.length);
      for (const code of codes) {
        expect(isErrorCode(code), `${group}: ${code}`).toBe(true);
        grouped.add(code);
      }
    }
    expect([...grouped].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  test('behavior: a code in several groups has the one meaning of the registry in every group table', () => {
    const tables: Record<string, Record<string, string>> = {
      rejection: { ...REJECTION_CODES },
      entry: { ...ENTRY_CODES },
      ledger: { ...LEDGER_ERROR_CODES },
      note: { ...NOTE_ERROR_CODES },
    };
    for (const [group, table] of Object.entries(tables)) {
      expect(Object.keys(table), group).toEqual([...ERROR_GROUPS[group as ErrorGroup]]);
      for (const [code, meaning] of Object.entries(table)) {
        expect(meaning, `${group}: ${code}`).toBe(ERROR_CODES[code as keyof typeof ERROR_CODES].meaning);
      }
    }
    for (const group of Object.keys(ERROR_GROUPS) as ErrorGroup[]) {
      for (const [code, meaning] of Object.entries(meaningsOf(group))) {
        expect(meaning, `${group}: ${code}`).toBe(ERROR_CODES[code as keyof typeof ERROR_CODES].meaning);
      }
    }
    // The README's group tables and its table of every code agree, code by code.
    const all = allCodesTable();
    for (const heading of [
      '### Codes a device can receive',
      '### Codes the verifier reports per entry',
      '### Codes the verifier reports per shredding record',
    ]) {
      for (const [code, meaning] of Object.entries(tableUnder(heading))) {
        expect(meaning, `${heading}: ${code}`).toBe(all[code]?.meaning);
      }
    }
  });

  test('behavior: the shredding-record codes and the README table are the same set, same meanings', () => {
    expect(tableUnder('### Codes the verifier reports per shredding record')).toEqual({ ...SHREDDING_CODES });
  });

  test('behavior: the protocol groups are distinct vocabularies of the one registry', () => {
    expect(Object.keys(REJECTION_CODES)).toHaveLength(11);
    expect(Object.keys(ENTRY_CODES)).toHaveLength(10);
    // Shared codes name the same condition in both; the rest belong to one side only.
    const shared = Object.keys(REJECTION_CODES).filter((c) => Object.hasOwn(ENTRY_CODES, c));
    expect(shared.sort()).toEqual(['bad_signature', 'malformed', 'unknown_device']);
  });

  test('behavior: every code the sources raise or return is registered', () => {
    const found = new Map<string, string>();
    for (const dir of ['gateway/src', 'anchor/src', 'firmware-sim/src']) {
      for (const file of sourceFiles(join(ROOT, dir))) {
        const rel = relative(ROOT, file).split('\\').join('/');
        for (const code of codesIn(readFileSync(file, 'utf8'), !Object.hasOwn(OTHER_VOCABULARIES, rel))) {
          if (!found.has(code)) found.set(code, rel);
        }
      }
    }
    // The scan does see the sources (a broken pattern would pass vacuously).
    expect(found.size).toBeGreaterThan(60);
    for (const code of [
      'integrity_error',
      'not_found',
      'malformed',
      'kgc_corrupt',
      'connect_failed',
      'not_ready',
    ]) {
      expect(found.has(code), code).toBe(true);
    }
    const unregistered = [...found].filter(([code]) => !isErrorCode(code)).map(([c, f]) => `${c} (${f})`);
    expect(unregistered).toEqual([]);
  });

  test('error: the source scan catches an unregistered code in each form it reads', () => {
    const text = [
      "throw new StoreError('disk_on_fire', 'x');",
      "throw new LedgerError(\n  'ledger_on_fire',\n  'x');",
      "return { ok: false, code: 'peer_on_fire' };",
      "const e = errorReply('http_on_fire');",
      "throw new TypeError('ignored');",
    ].join('\n');
    expect(codesIn(text, true)).toEqual(['disk_on_fire', 'ledger_on_fire', 'http_on_fire', 'peer_on_fire']);
    expect(codesIn(text, false)).toEqual(['disk_on_fire', 'ledger_on_fire', 'http_on_fire']);
  });
});

describe('HTTP replies come from the registry', () => {
  test('behavior: each code keeps its status and fixed reason on the wire', () => {
    const wire = (code: HttpErrorCode) => {
      const r = errorReply(code);
      return [r.status, r.body.error.code, r.body.error.reason];
    };
    // Each row pinned: status, code and the fixed reason sent on the wire.
    const expected: readonly (readonly [number, HttpErrorCode, string])[] = [
      [400, 'bad_request', 'the request does not match the API'],
      [401, 'unauthenticated', 'sign in first'],
      [401, 'bad_credentials', 'wrong username or password'],
      [403, 'forbidden', 'this role may not see live patient data'],
      [403, 'bad_origin', 'cross-origin request refused'],
      [404, 'not_found', 'no such resource'],
      [413, 'payload_too_large', 'request body too large'],
      [415, 'unsupported_media_type', 'send application/json'],
      [429, 'too_many_attempts', 'too many failed sign-ins; wait and retry'],
      [503, 'login_busy', 'too many sign-ins at once; retry shortly'],
      [500, 'internal', 'internal error'],
      [409, 'not_admitted', 'the device is not admitted'],
      [500, 'integrity_error', 'stored data does not authenticate'],
      [503, 'no_recipient_key', 'this host holds no key to open patient data'],
      [404, 'alarm_not_found', 'no open alarm with this id'],
      [409, 'alarm_not_active', 'the alarm is already acknowledged'],
      [503, 'not_ready', 'the store or the MQTT side is not up'],
      [503, 'ledger_unavailable', 'the ledger does not answer'],
      [503, 'anchoring_stalled', 'anchoring makes no progress'],
    ];
    expect(expected.map(([, code]) => wire(code))).toEqual(expected);
    expect(errorReply('unauthenticated', 'a metrics token is required')).toEqual({
      status: 401,
      body: { error: { code: 'unauthenticated', reason: 'a metrics token is required' } },
    });
  });

  test('behavior: HttpError and errorBody use the same status and reason', () => {
    const e = new HttpError('too_many_attempts', 3);
    expect([e.code, e.status, e.reason, e.retryAfterS]).toEqual([
      'too_many_attempts',
      429,
      'too many failed sign-ins; wait and retry',
      3,
    ]);
    expect(errorBody('not_found')).toEqual({ error: { code: 'not_found', reason: 'no such resource' } });
  });
});
