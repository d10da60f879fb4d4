/**
 * @module cli/faults
 * The simulator's fault-injection flags (`vitaltrail sim --forge 0.1 --replay 0.05 --skew
 * 600000 --wrong-key 0.05 --unknown 0.02`): fractions of genuine frames that get a bad
 * frame of that kind alongside (firmware-sim/src/faults.ts). The fleet's summary then
 * counts the rejections by code next to the good frames' acks.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { FaultMix } from '../../../firmware-sim/src/faults.js';

function fraction(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0 || n > 1)
      throw new InvalidArgumentError(`${name} must be a fraction from 0 to 1`);
    return n;
  };
}

/** Default fraction of `--skew` frames when `--skew-fraction` is not given. */
export const DEFAULT_SKEW_FRACTION = 0.1;

/**
 * Adds the fault flags to the `sim` command (when it exists).
 * @example
 * registerFaultOptions(program);
 */
export function registerFaultOptions(program: Command): void {
  const sim = program.commands.find((c) => c.name() === 'sim');
  if (!sim) return;
  sim
    .option(
      '--forge <fraction>',
      'bad frames: genuine frames with random signature bytes (bad_signature)',
      fraction('--forge'),
    )
    .option(
      '--replay <fraction>',
      'bad frames: an earlier seq with other bytes (replay_conflict)',
      fraction('--replay'),
    )
    .option('--skew <ms>', 'bad frames: ts this many ms ahead (clock_skew beyond 300000)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0)
        throw new InvalidArgumentError('--skew must be a positive number of ms');
      return n;
    })
    .option(
      '--skew-fraction <fraction>',
      `fraction of frames for --skew (default ${DEFAULT_SKEW_FRACTION})`,
      fraction('--skew-fraction'),
    )
    .option(
      '--wrong-key <fraction>',
      'bad frames: signed with a key the KGC never issued (bad_signature)',
      fraction('--wrong-key'),
    )
    .option(
      '--unknown <fraction>',
      'bad frames: from a device id the KGC never issued (unknown_device)',
      fraction('--unknown'),
    );
}

/** The fault mix the parsed options ask for, or undefined when none. */
export function faultMixOf(o: {
  forge?: number;
  replay?: number;
  skew?: number;
  skewFraction?: number;
  wrongKey?: number;
  unknown?: number;
}): FaultMix | undefined {
  const mix: FaultMix = {
    ...(o.forge ? { forge: o.forge } : {}),
    ...(o.replay ? { replay: o.replay } : {}),
    ...(o.skew ? { skew: o.skewFraction ?? DEFAULT_SKEW_FRACTION, skewMs: o.skew } : {}),
    ...(o.wrongKey ? { wrongKey: o.wrongKey } : {}),
    ...(o.unknown ? { unknown: o.unknown } : {}),
  };
  return Object.keys(mix).length > 0 ? mix : undefined;
}
