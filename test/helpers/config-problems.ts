/**
 * @module test/helpers/config-problems
 * The problems a refused configuration reports (app/config `ConfigError`, `config_invalid`).
 */
import { expect } from 'vitest';
import { ConfigError } from '../../gateway/src/app/config.js';

/** Runs `fn`, which must throw a `config_invalid` ConfigError; returns its problems. */
export function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('config_invalid');
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}
