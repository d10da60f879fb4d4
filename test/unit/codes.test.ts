/**
 * Code registries, documentation and types stay in sync (STYLE.md §3, after fastify's
 * errors test): every code in a registry has a row in the README table with the same
 * meaning, and the README documents no code the registry lacks.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ENTRY_CODES } from '../../anchor/src/verify/verify.js';
import { isRejectionCode, REJECTION_CODES } from '../../gateway/src/protocol/codes.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The `| code | meaning |` rows of the table under a README heading. */
function tableUnder(heading: string): Record<string, string> {
  const at = README.indexOf(heading);
  expect(at, `README has "${heading}"`).toBeGreaterThan(-1);
  const rows: Record<string, string> = {};
  const lines = README.slice(at).split('\n').slice(1);
  let inTable = false;
  for (const line of lines) {
    if (line.startsWith('|')) {
      inTable = true;
      const m = line.match(/^\| `([a-z_]+)` \| (.+) \|$/);
      if (m?.[1] && m[2]) rows[m[1]] = m[2];
    } else if (inTable) {
      break;
    }
  }
  return rows;
}

describe('code registries match the README', () => {
  test('behavior: rejection codes (PROTOCOL.md §1) and the README table are the same set, same meanings', () => {
    expect(tableUnder('### Codes a device can receive')).toEqual({ ...REJECTION_CODES });
  });

  test('behavior: verifier entry codes and the README table are the same set, same meanings', () => {
    expect(tableUnder('### Codes the verifier reports per entry')).toEqual({ ...ENTRY_CODES });
  });

  test('behavior: every rejection code is one PROTOCOL.md §1 names in brackets', () => {
    const protocol = readFileSync(new URL('../../../shared/PROTOCOL.md', import.meta.url), 'utf8');
    const bracketed = new Set(
      [...protocol.matchAll(/\[(`[a-z_]+`(?:, `[a-z_]+`)*)\]/g)].flatMap(
        (m) => m[1]!.match(/[a-z_]+/g) ?? [],
      ),
    );
    expect(bracketed).toEqual(new Set(Object.keys(REJECTION_CODES)));
  });

  test('error: isRejectionCode refuses anything else', () => {
    expect(isRejectionCode('bad_signature')).toBe(true);
    expect(isRejectionCode('toString')).toBe(false);
    expect(isRejectionCode('')).toBe(false);
  });
});
