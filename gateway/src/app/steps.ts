/**
 * @module app/steps
 * Start-up as an explicit list of steps, each with the stop step that undoes it (the
 * aedes `connectActions` habit, STYLE.md §1): `runSteps` starts them in order and returns
 * the function that stops the started ones in reverse. When a step fails, the steps
 * already started are stopped in reverse before the error is rethrown, so a failed start
 * leaves no timer, socket or open file behind.
 *
 * The parts a step makes are kept in `Parts`, typed by name; a step reads the parts of
 * earlier steps with `parts.get(name)` (or several with `parts.pick(...names)`), which throws
 * if that step has not run (a wrong order in the list is a programming error caught by the
 * first start).
 */

/** One start step and its stop step. */
export interface Step<P> {
  /** Names the step in errors. */
  readonly name: string;
  start(parts: P): void | Promise<void>;
  /** Undoes `start`; run in reverse order at stop, or after a later step failed. */
  stop?(parts: P): void | Promise<void>;
}

/** Parts made by steps, by name; `get` of a part no step has set is a programming error. */
export class Parts<M extends object> {
  readonly #p: Partial<M> = {};

  set<K extends keyof M, V extends M[K]>(name: K, value: V): V {
    this.#p[name] = value;
    return value;
  }

  /** The part, or undefined when its step has not run (for parts read before they exist, e.g. by gauges). */
  find<K extends keyof M>(name: K): M[K] | undefined {
    return this.#p[name];
  }

  get<K extends keyof M>(name: K): M[K] {
    if (!(name in this.#p)) throw new Error(`gateway part "${String(name)}" is used before its step ran`);
    return this.#p[name] as M[K];
  }

  /** Several parts at once, each as `get` (for a step that reads many). */
  pick<K extends keyof M>(...names: K[]): Pick<M, K> {
    const out: Partial<Pick<M, K>> = {};
    for (const name of names) out[name] = this.get(name);
    return out as Pick<M, K>;
  }
}

/**
 * Runs `steps` in order.
 * @returns the stop function: stops the started steps in reverse order, once; every stop
 *   step runs even when an earlier one fails, and the first failure is then rethrown.
 * @throws whatever a start step throws, after stopping the steps started before it.
 * @example
 * const stop = await runSteps([{ name: 'store', start: (p) => …, stop: (p) => … }], parts);
 * await stop();
 */
export async function runSteps<P>(steps: readonly Step<P>[], parts: P): Promise<() => Promise<void>> {
  const started: Step<P>[] = [];
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      let first: unknown;
      let failed = false;
      for (const s of started.reverse()) {
        try {
          await s.stop?.(parts);
        } catch (err) {
          if (!failed) first = err;
          failed = true;
        }
      }
      if (failed) throw first;
    })();
    return stopping;
  };
  for (const s of steps) {
    try {
      await s.start(parts);
    } catch (err) {
      await stop().catch(() => undefined); // the start failure is the one to report
      throw err;
    }
    started.push(s);
  }
  return stop;
}
