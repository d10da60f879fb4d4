/**
 * Alarm-fatigue benchmark (issue 15): the same simulated ward, run twice through the real
 * alarm service (io/clinical/alarm-service on a real SQLite store, core/alarms), and the
 * alarms a nurse would meet per hour:
 * - reference ("before"): every vital with the first wave's policy (no averaging, no
 *   delay, no hysteresis, no episode gap: core/alarms NO_FATIGUE_POLICY) and a NEWS2 alarm
 *   that follows every change of band at once (INSTANT_NEWS2_TRIGGER);
 * - the gateway's defaults ("after": DEFAULT_POLICIES, DEFAULT_NEWS2_TRIGGER).
 * The reference keeps the new technical-alarm rules (they never escalate), so it counts
 * fewer signals than the first wave did.
 * The ward is the demo's (`vitaltrail demo`: its beds and scenario mix, firmware-sim's
 * seeded patient models), one reading per bed per second, for `--minutes` of simulated
 * time at physiology `--speed`. Time is simulated (an injected clock), so the run takes
 * seconds and both halves see exactly the same readings.
 *
 *   node dist/test/bench/alarms.js [--minutes 30] [--speed 1] [--beds 20] [--ward-beds 10000]
 *
 * Counted per priority: alarms raised (new episodes), re-opened episodes, and every
 * alarm signal (raised, reactivated, escalated, renotified: each one flashes or sounds).
 * Then the alarm board's cost per reading (core/alarms AlarmBoard `evaluate` of one bed with
 * an alarm of its own) while 1,000 and 10,000 other beds have an alarm open, beside the same
 * with none (the reference, same run): a bed's reading must cost the same on any ward. And the
 * alarm service's pass over the ward (every second) on a ward of `--ward-beds` (10,000) beds, as
 * a lone gateway runs it (its ledger, io/clinical LocalAlarmLedger): with readings flowing and no
 * alarm, the pass in which every bed goes offline at once (an outage), and the passes after it
 * with every bed in alarm; each first in one go (`tick()`, the reference) and then as the
 * service's timer runs it, in slices (io/clinical/ward-sweep): the longest it held the loop.
 * Ends with one `BENCH {json}` line.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { seedOf } from '../../firmware-sim/src/fleet.js';
import { createPatientModel } from '../../firmware-sim/src/physiology.js';
import { demoScenarioOf } from '../../gateway/src/cli/demo.js';
import {
  AlarmBoard,
  type AlarmCondition,
  type AlarmPolicies,
  DEFAULT_NEWS2_TRIGGER,
  DEFAULT_POLICIES,
  INSTANT_NEWS2_TRIGGER,
  LIMIT_VITALS,
  type News2TriggerPolicy,
  NO_FATIGUE_POLICY,
} from '../../gateway/src/core/alarms/index.js';
import { LiveHub } from '../../gateway/src/core/live.js';
import type { ClinicalMessage } from '../../gateway/src/core/live-contract.js';
import { AlarmService, LocalAlarmLedger } from '../../gateway/src/io/clinical/index.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { makeTempDir } from '../helpers/tmp.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    speed: { type: 'string', default: '1' },
    beds: { type: 'string', default: '20' },
    'ward-beds': { type: 'string', default: '10000' },
  },
});
const MINUTES = Number(values.minutes);
const SPEED = Number(values.speed);
const BEDS = Number(values.beds);
const WARD_BEDS = Number(values['ward-beds']);

type Counts = Record<'high' | 'medium' | 'low', { raised: number; reopened: number; signals: number }>;

function emptyCounts(): Counts {
  return {
    high: { raised: 0, reopened: 0, signals: 0 },
    medium: { raised: 0, reopened: 0, signals: 0 },
    low: { raised: 0, reopened: 0, signals: 0 },
  };
}

/** One run of the ward under `policies`; returns its counts and the raised alarms by code. */
function runWard(
  policies: AlarmPolicies,
  news2Trigger: News2TriggerPolicy,
  label: string,
): { counts: Counts; codes: Map<string, number> } {
  const tmp = makeTempDir(`vt-alarm-bench-${label}-`);
  const store = openStore(join(tmp.dir, 'store.db'));
  const hub = new LiveHub();
  const start = Date.UTC(2026, 11, 1, 8, 0, 0);
  let clock = start;
  const alarms = new AlarmService({
    store,
    hub,
    now: () => clock,
    tickMs: 3_600_000, // ticked by the loop below, once per simulated second
    policies,
    news2Trigger,
  });
  const counts = emptyCounts();
  const codes = new Map<string, number>();
  alarms.subscribe((m: ClinicalMessage) => {
    if (m.type !== 'alarm') return;
    const c = counts[m.alarm.priority];
    if (m.event === 'raised') {
      c.raised += 1;
      codes.set(m.alarm.code, (codes.get(m.alarm.code) ?? 0) + 1);
    }
    if (m.event === 'reactivated') c.reopened += 1;
    if (['raised', 'reactivated', 'escalated', 'renotified'].includes(m.event)) c.signals += 1;
  });
  const ids = Array.from({ length: BEDS }, (_, i) => `wr-${String(i + 1).padStart(4, '0')}`);
  const models = ids.map(
    (dev, i) => createPatientModel({ seed: seedOf(dev), scenario: demoScenarioOf(i), speedup: SPEED }), // as the demo's fleet
  );
  const seqs = ids.map(() => 0);
  for (let s = 0; s < MINUTES * 60; s++) {
    clock = start + s * 1000;
    for (let i = 0; i < ids.length; i++) {
      const r = (models[i] as ReturnType<typeof createPatientModel>).next(1000);
      seqs[i] = (seqs[i] as number) + 1;
      hub.publish({
        dev: ids[i] as string,
        seq: seqs[i] as number,
        ts: clock,
        obs: r.obs,
        bat: r.bat,
        receivedAt: clock,
      });
    }
    alarms.tick();
  }
  alarms.stop();
  store.close();
  tmp.cleanup();
  return { counts, codes };
}

/** µs per `evaluate` of one bed holding its own alarm, while `others` beds each hold one. */
function boardEvaluateUs(others: number): number {
  const board = new AlarmBoard();
  const offline: AlarmCondition = { code: 'device_offline', kind: 'technical', priority: 'medium' };
  for (let i = 0; i < others; i++) board.evaluate(`wr-${i}`, [offline], 0);
  const spo2: AlarmCondition = { code: 'spo2_low', kind: 'physiological', priority: 'medium', value: 88 };
  const rounds = 100_000;
  let us = 0;
  for (let pass = 0; pass < 2; pass++) {
    const t0 = performance.now();
    for (let i = 0; i < rounds; i++) board.evaluate('bed', [spo2], i);
    us = ((performance.now() - t0) * 1000) / rounds; // the second pass: warm
  }
  return us;
}

/**
 * Turns of the event loop until `count` (the decisions shown so far) has not moved for 20 of
 * them: the ledger's queue lets the loop turn every 64 decisions (io/clinical/alarm-group).
 * @returns the longest wait for a turn (ms): how long a socket would have waited
 */
async function settle(count: () => number): Promise<number> {
  let last = -1;
  let longest = 0;
  let at = performance.now();
  for (let still = 0; still < 20; ) {
    await new Promise((r) => setImmediate(r));
    longest = Math.max(longest, performance.now() - at);
    at = performance.now();
    const now = count();
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return longest;
}

/** One pass of the alarm service over the ward: how long it took, and the longest it held the event loop (ms). */
type Pass = (alarms: AlarmService) => Promise<{ ms: number; held: number }>;

/** `tick()`: the whole ward in one go (the reference; the service's timer before it sliced the pass). */
const inOneGo: Pass = async (alarms) => {
  const t0 = performance.now();
  alarms.tick();
  const ms = performance.now() - t0;
  return { ms, held: ms };
};

/**
 * The timer's pass (io/clinical/ward-sweep): its first slice in this turn, the rest in later
 * ones. A probe takes one turn after another meanwhile; the longest gap between two is the
 * longest a socket or a frame would have waited (the pass's slices and whatever else ran).
 */
const inSlices: Pass = async (alarms) => {
  const t0 = performance.now();
  alarms.sweep.request();
  let at = performance.now();
  let held = at - t0;
  while (alarms.sweep.running) {
    await new Promise((r) => setImmediate(r));
    const t = performance.now();
    held = Math.max(held, t - at);
    at = t;
  }
  return { ms: performance.now() - t0, held };
};

/**
 * The alarm service's pass (`pass`) on a ward of `beds`: with readings flowing (no alarm), the
 * pass in which every bed goes offline (then the ledger's decisions after it), and a pass with
 * every bed's alarms open.
 */
async function wardPasses(
  beds: number,
  pass: Pass,
): Promise<{
  flowing: { ms: number; held: number };
  outage: { ms: number; held: number };
  decided: number;
  longestWait: number;
  open: { ms: number; held: number };
  alarms: number;
}> {
  const tmp = makeTempDir('vt-alarm-bench-ward-');
  const store = openStore(join(tmp.dir, 'store.db'));
  const hub = new LiveHub();
  let clock = Date.UTC(2026, 11, 1, 8, 0, 0);
  const ledger = new LocalAlarmLedger({ store, gatewayId: 'gw-bench' });
  const alarms = new AlarmService({
    store,
    hub,
    now: () => clock,
    tickMs: 3_600_000, // passes are run below
    group: { ledger, gatewayId: 'gw-bench', alone: true },
  });
  let shown = 0;
  alarms.subscribe((m) => {
    if (m.type === 'alarm') shown++;
  });
  const decidedSoFar = (): number => shown;
  const obs = { hr: 72, spo2: 97, rr: 16, temp: 36.8, sbp: 120, dbp: 80 };
  let flowing = { ms: 0, held: 0 };
  for (let s = 1; s <= 3; s++) {
    for (let i = 0; i < beds; i++)
      hub.publish({ dev: `ward-${i}`, seq: s, ts: clock, obs, bat: 90, receivedAt: clock });
    clock += 1000;
    flowing = await pass(alarms); // the last: warm
    await settle(decidedSoFar);
  }
  // Silence: the pass past the offline threshold raises every bed's alarms at once.
  let outage = { ms: 0, held: 0 };
  let decided = 0;
  let longestWait = 0;
  for (let s = 0; s < 31; s++) {
    clock += 1000;
    const p = await pass(alarms);
    const t1 = performance.now();
    const wait = await settle(decidedSoFar);
    if (p.ms > outage.ms) {
      outage = p;
      decided = performance.now() - t1;
      longestWait = wait;
    }
  }
  clock += 1000;
  const open = await pass(alarms);
  const count = alarms.openAlarms().length;
  alarms.stop();
  await ledger.close();
  store.close();
  tmp.cleanup();
  return { flowing, outage, decided, longestWait, open, alarms: count };
}

const r1 = (x: number) => Math.round(x * 10) / 10;

function perHour(n: number): number {
  return Math.round((n * 60) / MINUTES);
}

async function main(): Promise<void> {
  for (const [name, v] of [
    ['--minutes', MINUTES],
    ['--speed', SPEED],
    ['--beds', BEDS],
    ['--ward-beds', WARD_BEDS],
  ] as const) {
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be a positive number`);
  }
  const none = Object.fromEntries(LIMIT_VITALS.map((v) => [v, { ...NO_FATIGUE_POLICY }])) as AlarmPolicies;
  const before = runWard(none, INSTANT_NEWS2_TRIGGER, 'before');
  const after = runWard({ ...DEFAULT_POLICIES }, DEFAULT_NEWS2_TRIGGER, 'after');
  console.log(
    `alarm bench: the demo ward (${BEDS} beds, scenario mix of vitaltrail demo), ${MINUTES} simulated min at speed ${SPEED}, 1 reading/bed/s`,
  );
  console.log('per hour                      before (no fatigue controls)   after (defaults)');
  const total = (c: Counts, k: 'raised' | 'reopened' | 'signals') => c.high[k] + c.medium[k] + c.low[k];
  for (const p of ['high', 'medium', 'low'] as const) {
    console.log(
      `${`alarms raised, ${p}`.padEnd(30)}${String(perHour(before.counts[p].raised)).padStart(8)}${String(perHour(after.counts[p].raised)).padStart(31)}`,
    );
  }
  for (const k of ['raised', 'reopened', 'signals'] as const) {
    console.log(
      `${`${k === 'signals' ? 'alarm signals (all)' : `${k} (all)`}`.padEnd(30)}${String(perHour(total(before.counts, k))).padStart(8)}${String(perHour(total(after.counts, k))).padStart(31)}`,
    );
  }
  const byCode = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
  console.log(`raised by code, before: ${byCode(before.codes) || 'none'}`);
  console.log(`raised by code, after:  ${byCode(after.codes) || 'none'}`);
  const ratio =
    total(before.counts, 'raised') === 0
      ? null
      : total(after.counts, 'raised') / total(before.counts, 'raised');
  console.log(`after / before, alarms raised: ${ratio === null ? 'n/a' : ratio.toFixed(3)}`);
  const empty = boardEvaluateUs(0);
  const open1k = boardEvaluateUs(1000);
  const open10k = boardEvaluateUs(10_000);
  const x = (us: number) => `${us.toFixed(3)} µs = ${(us / empty).toFixed(2)} x`;
  console.log(`alarm board, one bed's reading: no other alarm open (reference) ${empty.toFixed(3)} µs`);
  console.log(`  1,000 other beds with an alarm open ${x(open1k)};  10,000: ${x(open10k)}`);
  const ward = await wardPasses(WARD_BEDS, inOneGo);
  console.log(
    `alarm service tick, ${WARD_BEDS} beds, in one go: readings flowing, no alarm (reference) ${ward.flowing.ms.toFixed(1)} ms`,
  );
  console.log(
    `  every bed offline at once: ${ward.outage.ms.toFixed(1)} ms (= ${(ward.outage.ms / ward.flowing.ms).toFixed(1)} x), then ${ward.decided.toFixed(0)} ms of the ledger's decisions in later turns (the loop waited at most ${ward.longestWait.toFixed(0)} ms for a turn)`,
  );
  console.log(
    `  with ${ward.alarms} alarms open: ${ward.open.ms.toFixed(1)} ms (= ${(ward.open.ms / ward.flowing.ms).toFixed(1)} x)`,
  );
  const sliced = await wardPasses(WARD_BEDS, inSlices);
  const held = (p: { ms: number; held: number }, ref: { ms: number }) =>
    `the loop held at most ${p.held.toFixed(1)} ms (= ${(p.held / ref.ms).toFixed(2)} x the tick in one go), the pass ${p.ms.toFixed(0)} ms`;
  console.log("the same ward, the timer's pass in slices (io/clinical/ward-sweep):");
  console.log(`  readings flowing: ${held(sliced.flowing, ward.flowing)}`);
  console.log(
    `  every bed offline at once: ${held(sliced.outage, ward.outage)}; then ${sliced.decided.toFixed(0)} ms of decisions (a turn waited at most ${sliced.longestWait.toFixed(0)} ms)`,
  );
  console.log(`  with ${sliced.alarms} alarms open: ${held(sliced.open, ward.open)}`);
  console.log(
    `BENCH ${JSON.stringify({
      bench: 'alarms',
      beds: BEDS,
      minutes: MINUTES,
      speed: SPEED,
      before_raised_per_h: perHour(total(before.counts, 'raised')),
      before_high_per_h: perHour(before.counts.high.raised),
      before_signals_per_h: perHour(total(before.counts, 'signals')),
      after_raised_per_h: perHour(total(after.counts, 'raised')),
      after_high_per_h: perHour(after.counts.high.raised),
      after_signals_per_h: perHour(total(after.counts, 'signals')),
      after_reopened_per_h: perHour(total(after.counts, 'reopened')),
      ratio_raised: ratio,
      board_eval_us_empty: Math.round(empty * 1000) / 1000,
      board_eval_us_1000_open: Math.round(open1k * 1000) / 1000,
      board_eval_us_10000_open: Math.round(open10k * 1000) / 1000,
      board_eval_ratio_10000: Math.round((open10k / empty) * 100) / 100,
      ward_beds: WARD_BEDS,
      ward_tick_ms_flowing: r1(ward.flowing.ms),
      ward_tick_ms_outage: r1(ward.outage.ms),
      ward_outage_decided_ms: Math.round(ward.decided),
      ward_outage_longest_wait_ms: Math.round(ward.longestWait),
      ward_tick_ms_all_open: r1(ward.open.ms),
      ward_open_alarms: ward.alarms,
      ward_sliced_held_ms_flowing: r1(sliced.flowing.held),
      ward_sliced_pass_ms_flowing: r1(sliced.flowing.ms),
      ward_sliced_held_ms_outage: r1(sliced.outage.held),
      ward_sliced_pass_ms_outage: r1(sliced.outage.ms),
      ward_sliced_outage_decided_ms: Math.round(sliced.decided),
      ward_sliced_outage_longest_wait_ms: Math.round(sliced.longestWait),
      ward_sliced_held_ms_all_open: r1(sliced.open.held),
      ward_sliced_pass_ms_all_open: r1(sliced.open.ms),
      ward_sliced_open_alarms: sliced.alarms,
    })}`,
  );
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exitCode = 1;
});
