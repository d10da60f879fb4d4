/**
 * @module test/integration/alarm-sweep
 * The alarm service's once-a-second pass, run by its own timer, in slices
 * (io/clinical/ward-sweep), on real stores: on a ward gone silent it raises exactly what one
 * tick in one go raises, and the event loop serves other work (a socket, a frame) between
 * its slices instead of waiting for the whole ward.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LiveHub } from '../../gateway/src/core/live.js';
import { AlarmService } from '../../gateway/src/io/clinical/alarm-service.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { makeTempDir } from '../helpers/tmp.js';

const BEDS = 2000;
const CALM = { hr: 72, spo2: 97, rr: 14, temp: 3700, sbp: 120, dbp: 75 };

describe('alarm service: the pass over the ward in slices', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('behavior: on 2,000 beds gone silent, the timer raises what one tick raises, with the event loop turning between its slices', async () => {
    let clock = Date.UTC(2026, 11, 5, 8, 0, 0);
    const ward = (tickMs: number) => {
      const tmp = makeTempDir('vt-alarm-sweep-');
      const store = openStore(join(tmp.dir, 'store.db'));
      const hub = new LiveHub();
      const alarms = new AlarmService({ store, hub, now: () => clock, tickMs });
      cleanups.push(() => {
        alarms.stop();
        store.close();
        tmp.cleanup();
      });
      return { hub, alarms };
    };
    const inOneGo = ward(3_600_000); // ticked by the test
    const sliced = ward(20); // its own timer
    for (const { hub } of [inOneGo, sliced]) {
      for (let i = 0; i < BEDS; i++)
        hub.publish({ dev: `bed-${i}`, seq: 1, ts: clock, obs: CALM, bat: 80, receivedAt: clock });
    }
    await new Promise((r) => setTimeout(r, 60)); // passes with nothing to raise
    expect(sliced.alarms.openAlarms()).toEqual([]);

    let raised = 0;
    let raisedBeforeOtherWork = -1;
    sliced.alarms.subscribe((m) => {
      if (m.type !== 'alarm') return;
      if (raised++ === 0) setImmediate(() => (raisedBeforeOtherWork = raised));
    });
    clock += 31_000; // past the 30 s after which a silent bed is offline
    inOneGo.alarms.tick();
    const expected = inOneGo.alarms
      .openAlarms()
      .map((a) => `${a.dev} ${a.code} ${a.priority}`)
      .sort();
    expect(expected.filter((a) => a.endsWith('device_offline medium'))).toHaveLength(BEDS);

    await vi.waitFor(() => expect(sliced.alarms.openAlarms()).toHaveLength(expected.length), {
      timeout: 10_000,
      interval: 5,
    });
    expect(
      sliced.alarms
        .openAlarms()
        .map((a) => `${a.dev} ${a.code} ${a.priority}`)
        .sort(),
    ).toEqual(expected);
    // Other work queued at the pass's first alarm ran before its last: the loop turned in between.
    expect(raisedBeforeOtherWork).toBeGreaterThan(0);
    expect(raisedBeforeOtherWork).toBeLessThan(raised);
    expect(raised).toBe(expected.length);
  });
});
