/**
 * @module test/unit/doctor-ecg-samples
 * The doctor's page's ECG window (dashboards/doctor/ecg `latestSamples`, pure): the latest N
 * seconds of the strips in time order whatever order they came in, right-aligned; only the
 * last chunk's device and rate; stopped at a gap (never drawn as a trace); and the int16
 * little-endian samples decoded with their sign (common/ecg-paper `ecgSamples`).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

/** The page modules are checked JavaScript, loaded by URL (as test/unit/ward-layout). */
const page = (rel: string) => pathToFileURL(join(import.meta.dirname, '../../dashboards', rel)).href;
type Strip = { dev: string; seq: number; ts: number; fs: number; s: string };
type Latest = { dev: string; fs: number; samples: Int16Array; len: number; endTs: number } | null;
let latestSamples: (strips: readonly Strip[], seconds: number) => Latest;
let ecgSamples: (base64: string) => Int16Array;
beforeAll(async () => {
  ({ latestSamples } = await import(page('doctor/ecg.js')));
  ({ ecgSamples } = await import(page('common/ecg-paper.js')));
});

/** A chunk of `n` samples all `value`, as the API sends it. */
const strip = (ts: number, value: number, o: { n?: number; fs?: number; dev?: string } = {}) => {
  const n = o.n ?? 4;
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) b.writeInt16LE(value, i * 2);
  return { dev: o.dev ?? 'wr-0001', seq: ts, ts, fs: o.fs ?? 4, s: b.toString('base64') };
};

describe('latestSamples', () => {
  it('behavior: the latest seconds in time order, right-aligned, whatever order the strips came in', () => {
    const r = latestSamples([strip(2000, 3), strip(0, 1), strip(1000, 2)], 2);
    expect(r && [...r.samples]).toEqual([2, 2, 2, 2, 3, 3, 3, 3]);
    expect(r && [r.len, r.fs, r.dev, r.endTs]).toEqual([8, 4, 'wr-0001', 3000]);
    const short = latestSamples([strip(0, 5)], 2);
    expect(short && [...short.samples]).toEqual([0, 0, 0, 0, 5, 5, 5, 5]);
    expect(short?.len).toBe(4);
  });

  it('edge: stops at a gap, at another device or another rate; none without strips', () => {
    const gap = latestSamples([strip(0, 1), strip(5000, 2)], 3);
    expect(gap && [...gap.samples]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2]);
    const other = latestSamples([strip(0, 1, { dev: 'wr-0002' }), strip(1000, 2)], 2);
    expect(other?.len).toBe(4);
    const rate = latestSamples([strip(0, 1, { fs: 8, n: 8 }), strip(1000, 2)], 2);
    expect(rate?.len).toBe(4);
    expect(latestSamples([], 10)).toBeNull();
  });

  it('behavior: int16 little-endian samples keep their sign', () => {
    const b = Buffer.alloc(6);
    b.writeInt16LE(-1000, 0);
    b.writeInt16LE(1500, 2);
    b.writeInt16LE(-32768, 4);
    expect([...ecgSamples(b.toString('base64'))]).toEqual([-1000, 1500, -32768]);
  });
});
