/**
 * @module test/helpers/contract
 * What the store suites share (the abstract ones, test/integration/*-abstract.ts, and the
 * files that run them on each store): a fixture opened per test and closed after it, stores
 * opened by a test and closed after it, a rejection and its code, and a read that fails with
 * a code (for `until`, while a store's copy catches up with a bad row).
 */
import { afterEach, expect } from 'vitest';

/** What `p` rejected with. @throws {Error} `expected a rejection` when it resolved */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

/** Expects `p` to reject with an instance of `type` whose `code` is `code`. */
export async function expectCode(
  p: Promise<unknown>,
  type: abstract new (...args: never[]) => { code: string },
  code: string,
): Promise<void> {
  const err = await rejection(p);
  expect(err).toBeInstanceOf(type);
  expect((err as { code: string }).code).toBe(code);
}

/**
 * One fixture per test: `fresh()` opens it with `open`, `current()` is the test's, and an
 * `afterEach` (registered where this is called) closes it.
 */
export function fixturePerTest<F extends { close(): Promise<void> }>(
  open: () => Promise<F>,
): { fresh(): Promise<F>; current(): F } {
  let fx: F | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });
  return {
    fresh: async () => {
      fx = await open();
      return fx;
    },
    current: () => fx as F,
  };
}

/**
 * Registers an `afterEach` that closes whatever the test passed to the returned function
 * (which returns it).
 * @example const track = closedAfterEach<PgBindings>(); const book = track(await PgBindings.open(o));
 */
export function closedAfterEach<T extends { close(): Promise<void> }>(): (x: T) => T {
  const opened: T[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((x) => x.close()));
  });
  return (x) => {
    opened.push(x);
    return x;
  };
}

/** A condition for `until`: `read()` throws an error whose `code` is `code`. */
export function failsWith(code: string, read: () => unknown): () => boolean {
  return () => {
    try {
      read();
      return false;
    } catch (e) {
      return (e as { code?: string }).code === code;
    }
  };
}
