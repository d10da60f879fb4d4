/**
 * @module test/integration/influx-spill-disk-full
 * The InfluxDB sink's spill file on a full disk (io/outbound/influx-sink), on a real 1 MiB
 * tmpfs filled with a file, the server down for real (its URL a loopback port nothing
 * listens on: the connection is refused). A batch the disk had no room for used to throw
 * out of `flush`, lost and uncounted, and leave a torn record that made every later read of
 * the spill fail: the gateway's resend of the spill, and a recipient's `readSpill` of the
 * whole file. Now it is dropped and told (`stats.dropped`, `spill_full`), the torn record is
 * cut off, and a torn last record (a crash mid-append) is skipped when the file is read.
 * Needs root or passwordless sudo to mount (test/helpers/tmpfs).
 */
import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type InfluxPoint,
  InfluxSink,
  readSpill,
  toLineProtocol,
} from '../../gateway/src/io/outbound/influx-sink.js';
import { freePort } from '../helpers/ports.js';
import { recipientPair } from '../helpers/sealed.js';
import { fillFileSystem, tmpfsForTests } from '../helpers/tmpfs.js';

const mnt = tmpfsForTests('vt-spill-full-', '1m');

const point = (i: number): InfluxPoint => ({
  dev: 'wr-0001',
  ts: 1_700_000_000_000 + i,
  obs: { hr: 60 + (i % 40) },
});
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('the influx spill on a full disk', () => {
  it('behavior: a batch with no room is dropped and told, flush resolves; the spill stays readable and takes batches again once space is freed', async () => {
    const r = recipientPair('care', 'ec');
    const secrets = [{ kid: 'care', privateKey: r.privateKey }];
    const spillFile = join(mnt, 'influx-spill.jsonl');
    const alarms: string[] = [];
    const sink = new InfluxSink({
      url: `http://127.0.0.1:${await freePort()}`,
      org: 'vitaltrail',
      bucket: 'vitals',
      recipients: [r.recipient],
      spillFile,
      batchSize: 1000,
      flushIntervalMs: 3_600_000,
      onAlarm: (a) => alarms.push(a),
    });
    try {
      for (const i of range(0, 10)) sink.write(point(i));
      await sink.flush(); // refused: spilled
      expect(sink.stats).toMatchObject({ spilled: 10, dropped: 0 });
      expect(alarms).toEqual(['server_unreachable']);

      const filler = fillFileSystem(mnt);
      // Larger than the spill file's last page, so the append cannot hide in its free bytes.
      for (const i of range(10, 510)) sink.write(point(i));
      await sink.flush(); // resolves: the loss is counted and told, not thrown
      expect(sink.stats).toMatchObject({ spilled: 10, dropped: 500 });
      expect(alarms).toEqual(['server_unreachable', 'spill_full']);

      rmSync(filler);
      for (const i of range(510, 520)) sink.write(point(i));
      await sink.flush();
      expect(sink.stats).toMatchObject({ spilled: 20, dropped: 500 });
      const kept = [...range(0, 10), ...range(510, 520)].map((i) => toLineProtocol(point(i)));
      expect(await readSpill(spillFile, secrets)).toEqual(kept);

      // A record torn by a crash mid-append: the ones before it still read.
      appendFileSync(spillFile, '{"n":21,"count":10,"rec":"eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0');
      expect(await readSpill(spillFile, secrets)).toEqual(kept);
    } finally {
      await sink.close();
    }
  });
});
