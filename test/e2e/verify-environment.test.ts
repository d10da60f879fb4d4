/**
 * @module test/e2e/verify-environment
 * Issue 17: every environment failure of `vitaltrail verify` is one coded line and exit 2,
 * never a client library's dump or a verdict: the chain node down (`ledger_unavailable`),
 * evidence of another chain, of another anchors contract or of another log
 * (`evidence_mismatch`). The golden valid bundle and its saved evidence, edited copies.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureDir } from '../helpers/bundle-fixtures.js';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/tmp.js';

const DIR = fixtureDir();
const BUNDLE = join(DIR, 'valid.bundle.json');
const evidence = JSON.parse(readFileSync(join(DIR, 'valid.anchors.json'), 'utf8')) as Record<
  string,
  unknown
> & {
  anchors: { logId: string }[];
};
const tmp = makeTempDir('vt-verify-env-');
afterAll(() => tmp.cleanup());

function edited(name: string, change: (e: typeof evidence) => unknown): string {
  const path = join(tmp.dir, `${name}.anchors.json`);
  writeFileSync(path, JSON.stringify(change(structuredClone(evidence))));
  return path;
}

describe('verify: the summary names what was verified', () => {
  it("behavior: the first line names the log, chain, contract, tree sizes, blocks, devices and the readings' time range", async () => {
    const r = await runCli(['verify', BUNDLE, '--anchors', join(DIR, 'valid.anchors.json')]);
    expect(r.code).toBe(0);
    const bundle = JSON.parse(readFileSync(BUNDLE, 'utf8')) as {
      log: { origin: string; logId: string };
      chain: { chainId: number; contract: string };
    };
    expect(r.stdout.split('\n')[0]).toBe(
      `verified: log ${bundle.log.origin} (${bundle.log.logId}) on chain ${bundle.chain.chainId}, contract ${bundle.chain.contract}; ` +
        'checkpoints of tree size 4-18 anchored in block(s) 10-14; 2 device(s) (wr-0001, wr-0002); ' +
        'readings of 2025-01-15T08:00:00.000Z to 2025-01-15T08:00:15.000Z',
    );
  });
});

describe('verify: environment failures are coded', () => {
  it('error: the chain node down is ledger_unavailable, one line, exit 2', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await runCli(['verify', BUNDLE, '--rpc', url]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      `error: ledger_unavailable: reading the chain evidence from ${url}: the JSON-RPC endpoint did not answer`,
    ]);
  });

  it('error: evidence of another chain, contract or log is evidence_mismatch, exit 2', async () => {
    const cases: [string, string, RegExp][] = [
      ['chain', edited('chain', (e) => ({ ...e, chainId: 4242 })), /of chain 4242, .* names chain 31337/],
      [
        'contract',
        edited('contract', (e) => ({ ...e, contract: `0x${'ab'.repeat(20)}` })),
        /another anchors contract/,
      ],
      [
        'log',
        edited('log', (e) => ({
          ...e,
          anchors: e.anchors.map((a) => ({ ...a, logId: `0x${'cd'.repeat(32)}` })),
        })),
        /holds no anchor of .* log 0x/,
      ],
    ];
    for (const [what, file, reason] of cases) {
      const r = await runCli(['verify', BUNDLE, '--anchors', file]);
      expect(r.code, what).toBe(2);
      expect(r.stdout, what).toBe('');
      expect(r.stderr, what).toMatch(/^error: evidence_mismatch: /);
      expect(r.stderr, what).toMatch(reason);
    }
    // The untouched evidence still verifies: the edits, not the files, made the refusals.
    expect((await runCli(['verify', BUNDLE, '--anchors', join(DIR, 'valid.anchors.json')])).code).toBe(0);
  });
});
