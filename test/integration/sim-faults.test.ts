/**
 * @module test/integration/sim-faults
 * The simulator's fault injection against the real gateway (issue 3): forged, replayed,
 * skewed, wrong-key and unknown-device frames mixed among good ones are rejected with
 * their codes and counted by the fleet, while every good frame is accepted. The faults are
 * seeded per device (`FaultMix.seed`), so each device's faults are the same on every run,
 * however the frames are paced: a replay drawn before any frame was acked is owed, not lost
 * (test/unit/sim-fault-injector.test.ts).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../../firmware-sim/src/fleet.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { deviceKey, prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof makeTempDir>;
let paths: DataPaths;
let gw: RunningGateway;

beforeAll(async () => {
  tmp = makeTempDir('vt-faults-');
  paths = await prepareDataDir(join(tmp.dir, 'data'), ['wr-0001', 'wr-0002']);
  gw = (await startGateway({ dataDir: paths.root, logger: silentLogger })) as RunningGateway;
});
afterAll(async () => {
  await gw?.stop();
  tmp.cleanup();
});

describe('fault injection', () => {
  it('behavior: every good frame is accepted and every bad one rejected with the code of its kind', async () => {
    const fleet = await Fleet.start({
      url: gw.broker.url,
      devices: ['wr-0001', 'wr-0002'].map((devId) => ({ devId, privateKey: deviceKey(paths, devId) })),
      rateHz: 40,
      maxFrames: 60,
      faults: {
        forge: 0.2,
        replay: 0.2,
        skew: 0.2,
        skewMs: 600_000,
        wrongKey: 0.2,
        unknown: 0.2,
        // Each device draws from its own generator (seed 7 and its id): which frames get which
        // fault does not depend on how the two devices' frames interleave under load.
        seed: 7,
      },
    });
    await fleet.finished;
    const s = await fleet.stop(10_000);
    const sent = s.faultsSent ?? {};
    const want: Record<string, number> = {
      bad_signature: (sent.forge ?? 0) + (sent.wrongKey ?? 0),
      replay_conflict: sent.replay ?? 0,
      clock_skew: sent.skew ?? 0,
      unknown_device: sent.unknown ?? 0,
    };
    // The gateway's own counts are the authority: every bad frame rejected with its code.
    const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
      await gw.ingest.drain();
      if (total(gw.store.rejectionCounts()) >= total(want)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // The seeded draws of the two devices (and of the unknown probe) over 60 frames each.
    expect({ ...sent }).toEqual({ forge: 21, replay: 36, skew: 18, wrongKey: 29, unknown: 23 });
    expect(s.made).toBe(120);
    expect(s.acked).toBe(120);
    expect(gw.store.rejectionCounts()).toEqual(want);
    // The devices heard every report, each under its code: stop() waits for them.
    expect({ ...s.rejected }).toEqual(want);
    expect(gw.store.size).toBe(120);
  }, 30_000);
});
