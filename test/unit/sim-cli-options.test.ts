/**
 * @module test/unit/sim-cli-options
 * Issue 15, the CLI side: `--speed`, `--ids` and `--scenario` of `vitaltrail sim` and
 * `vitaltrail demo` (gateway/src/cli/sim.ts, demo.ts, main.ts) — the pure parsers, the
 * demo ward's bed → scenario mix, and the options' wiring in `buildProgram()` (the commands'
 * actions replaced, so nothing runs; the e2e tier runs the built CLI).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, describe, expect, test } from 'vitest';
import { SCENARIOS } from '../../firmware-sim/src/physiology.js';
import { DEMO_WARD, demoScenario, demoScenarioOf, parseDemoScenario } from '../../gateway/src/cli/demo.js';
import { UsageError } from '../../gateway/src/cli/errors.js';
import { buildProgram } from '../../gateway/src/cli/main.js';
import { deviceIds, parseDeviceIds, parseScenario, parseSpeed } from '../../gateway/src/cli/sim.js';

const usage = (f: () => unknown, message: RegExp) => {
  expect(f).toThrow(UsageError);
  expect(f).toThrow(message);
};

describe('--speed', () => {
  test('behavior: a factor from 1 to 600, fractions allowed', () => {
    expect(parseSpeed('1')).toBe(1);
    expect(parseSpeed('60')).toBe(60);
    expect(parseSpeed('2.5')).toBe(2.5);
    expect(parseSpeed('600')).toBe(600);
  });

  test('error: out of range, not a plain number, or empty is a usage error', () => {
    for (const v of ['0', '0.5', '600.5', '601', '-5', 'abc', '', ' 60', '1e2', 'Infinity', 'NaN', '0x10']) {
      usage(() => parseSpeed(v), /^--speed must be a number from 1 to 600$/);
    }
  });
});

describe('--ids', () => {
  test('behavior: any ids of the protocol pattern, in order', () => {
    expect(parseDeviceIds('bed-1,ICU.7,x_y')).toEqual(['bed-1', 'ICU.7', 'x_y']);
    expect(parseDeviceIds('a')).toEqual(['a']);
    expect(parseDeviceIds('z'.repeat(64))).toEqual(['z'.repeat(64)]);
    // --prefix/--devices keep their ids.
    expect(deviceIds('wr-', 3)).toEqual(['wr-0001', 'wr-0002', 'wr-0003']);
  });

  test('error: an invalid, empty or repeated id, or too many, is a usage error', () => {
    for (const v of ['', 'a,,b', 'a,', '..', '.', '-a', 'a b', 'bed/1', 'z'.repeat(65), 'a,b,ä']) {
      usage(() => parseDeviceIds(v), /^--ids: device ids are 1-64 chars/);
    }
    usage(() => parseDeviceIds('a,b,a'), /each device id once/);
    usage(() => parseDeviceIds(Array.from({ length: 10_001 }, (_, i) => `d${i}`).join(',')), /at most 10000/);
  });
});

describe('--scenario', () => {
  test('behavior: sim takes every scenario; demo takes them or mix (undefined: the ward mix)', () => {
    for (const s of SCENARIOS) {
      expect(parseScenario(s)).toBe(s);
      expect(parseDemoScenario(s)).toBe(s);
    }
    expect(parseDemoScenario('mix')).toBeUndefined();
  });

  test('error: an unknown scenario is a usage error naming the list', () => {
    usage(
      () => parseScenario('mix'),
      /^--scenario must be one of steady, .*, fever, probe_off, battery_drain$/,
    );
    usage(() => parseDemoScenario('Fever'), /--scenario must be one of/);
  });
});

describe('the demo ward', () => {
  test('behavior: bed 3 deteriorating, 5 fever, 7 arrhythmia, 10 probe_off, 12 artefacts, 16 battery_drain', () => {
    const ward = deviceIds('wr-', 20).map((id, i) => demoScenario(id, i));
    expect(Object.fromEntries(ward.flatMap((s, i) => (s === 'steady' ? [] : [[`Bed ${i + 1}`, s]])))).toEqual(
      {
        'Bed 3': 'deteriorating',
        'Bed 5': 'fever',
        'Bed 7': 'arrhythmia',
        'Bed 10': 'probe_off',
        'Bed 12': 'artefacts',
        'Bed 16': 'battery_drain',
      },
    );
    // Every scenario but steady once, so every one has something to show.
    expect(new Set(Object.values(DEMO_WARD)).size).toBe(SCENARIOS.length - 1);
    expect(ward.filter((s) => s === 'steady')).toHaveLength(14);
    expect(ward).toEqual(ward.map((_, i) => demoScenarioOf(i)));
  });
});

describe('wiring in buildProgram', () => {
  const data = mkdtempSync(join(tmpdir(), 'vt-sim-cli-'));
  afterAll(() => rmSync(data, { recursive: true, force: true }));

  /** Parses `argv` for `command` with its action replaced; returns the options it would have run with. */
  async function optionsOf(command: 'sim' | 'demo', argv: string[]): Promise<Record<string, unknown>> {
    const program = await buildProgram();
    const cmd = program.commands.find((c) => c.name() === command) as Command;
    let seen: Record<string, unknown> = {};
    for (const c of [program, cmd]) c.configureOutput({ writeOut: () => {}, writeErr: () => {} });
    cmd.action((o: Record<string, unknown>) => {
      seen = o;
    });
    await program.parseAsync(['node', 'vitaltrail', command, '--data', data, ...argv]);
    return seen;
  }

  test('behavior: sim and demo default to --speed 1 and take --speed and --ids', async () => {
    expect(await optionsOf('sim', [])).toMatchObject({
      speed: 1,
      scenario: 'steady',
      prefix: 'wr-',
      devices: 1,
    });
    expect((await optionsOf('sim', [])).ids).toBeUndefined();
    expect(
      await optionsOf('sim', ['--speed', '60', '--ids', 'bed-1,bed-2', '--scenario', 'fever']),
    ).toMatchObject({
      speed: 60,
      ids: ['bed-1', 'bed-2'],
      scenario: 'fever',
    });
    expect(await optionsOf('demo', [])).toMatchObject({ speed: 1, scenario: 'mix', devices: 20 });
    expect(await optionsOf('demo', ['--speed', '600', '--ids', 'icu.1'])).toMatchObject({
      speed: 600,
      ids: ['icu.1'],
    });
  });

  test('error: a bad --speed or --ids is a usage error; --ids with --devices or --prefix is refused', async () => {
    await expect(optionsOf('sim', ['--speed', '0'])).rejects.toThrow(UsageError);
    await expect(optionsOf('demo', ['--speed', '601'])).rejects.toThrow(/--speed must be/);
    await expect(optionsOf('sim', ['--ids', 'ok,..'])).rejects.toThrow(UsageError);
    for (const [command, other] of [
      ['sim', ['--devices', '2']],
      ['sim', ['--prefix', 'x-']],
      ['demo', ['--devices', '3']],
    ] as const) {
      await expect(optionsOf(command, ['--ids', 'a,b', ...other])).rejects.toMatchObject({
        code: 'commander.conflictingOption',
      });
    }
  });
});
