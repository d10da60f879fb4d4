/**
 * @module test/integration/sim-device-resume
 * A simulated wearable whose seqs cannot be reserved durably (its state file cannot be
 * written: here a directory stands where the file was; a full disk in the demo) makes no
 * frame, tells `onError` once, and makes frames again once the file can be written: before,
 * it stopped for good, and after a full disk the demo's ward stayed silent until a restart.
 * Against the real gateway and its embedded broker.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../../firmware-sim/src/fleet.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { deviceKey, prepareDataDir } from '../helpers/gateway.js';
import { blockFile, makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

let tmp: ReturnType<typeof makeTempDir>;
let paths: DataPaths;
let gw: RunningGateway;

beforeAll(async () => {
  tmp = makeTempDir('vt-sim-resume-');
  paths = await prepareDataDir(join(tmp.dir, 'data'), ['wr-0001']);
  gw = (await startGateway({ dataDir: paths.root, logger: silentLogger })) as RunningGateway;
});
afterAll(async () => {
  await gw?.stop();
  tmp.cleanup();
});

describe('a simulated wearable that cannot reserve its seqs', () => {
  it('behavior: makes no frame meanwhile, is told once, and makes frames again once its state can be written', async () => {
    const statePath = join(tmp.dir, 'wr-0001.state.json');
    const errors: string[] = [];
    const fleet = await Fleet.start({
      url: gw.broker.url,
      devices: [{ devId: 'wr-0001', privateKey: deviceKey(paths, 'wr-0001'), statePath }],
      rateHz: 200,
      onError: (dev, err) => errors.push(`${dev}: ${(err as Error).message}`),
    });
    try {
      await until(() => fleet.stats().made >= 10, 20_000, 'the first frames');
      blockFile(statePath);
      // The next reservation of seqs (and the saves meanwhile) fail: once the reservation in
      // hand (at most 100 seqs) is used up, no frame is made.
      await until(() => errors.some((e) => /EISDIR/.test(e)), 20_000, 'the trouble told');
      let stalled = -1;
      let stableSince = Date.now();
      await until(
        () => {
          const made = fleet.stats().made;
          if (made !== stalled) {
            stalled = made;
            stableSince = Date.now();
          }
          return Date.now() - stableSince >= 1000;
        },
        30_000,
        'no frame made for 1 s',
      );
      expect(errors.length).toBeLessThanOrEqual(2); // the reservation's and the saves', once each

      rmSync(statePath, { recursive: true });
      await until(() => fleet.stats().made > stalled + 50, 20_000, 'frames again');
    } finally {
      const s = await fleet.stop(10_000);
      expect(s.acked).toBe(s.made);
      expect(s.rejected).toEqual({});
    }
    expect(errors.every((e) => e.startsWith('wr-0001: ') && /EISDIR/.test(e))).toBe(true);
  });
});
