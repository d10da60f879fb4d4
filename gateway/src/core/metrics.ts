/**
 * @module core/metrics
 * Counters, gauges and histograms rendered in the Prometheus text exposition format
 * (version 0.0.4: `# HELP`, `# TYPE`, one sample per line, label values escaped, histogram
 * buckets cumulative with `le="+Inf"`, `_sum` and `_count`). Pure: no timers, no I/O; the
 * gateway's route module samples the gauges when it is scraped.
 */

export type Labels = Readonly<Record<string, string>>;

/** Prometheus text format: `\` → `\\`, `"` → `\"`, newline → `\n` in label values. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function num(v: number): string {
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return Number.isNaN(v) ? 'NaN' : String(v);
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
  ) {
    if (!METRIC_NAME.test(name)) throw new RangeError(`metric name ${JSON.stringify(name)} is not valid`);
  }
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected abstract samples(): string[];
  render(): string {
    return [
      `# HELP ${this.name} ${this.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`,
      `# TYPE ${this.name} ${this.type}`,
      ...this.samples(),
    ].join('\n');
  }
}

/** A monotonically increasing count, optionally split by labels. */
export class Counter extends Metric {
  readonly type = 'counter';
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  inc(labels: Labels = {}, n = 1): void {
    if (!(n >= 0)) throw new RangeError('a counter only goes up');
    const key = JSON.stringify(labels);
    const cur = this.#values.get(key);
    if (cur) cur.value += n;
    else this.#values.set(key, { labels, value: n });
  }
  value(labels: Labels = {}): number {
    return this.#values.get(JSON.stringify(labels))?.value ?? 0;
  }
  protected samples(): string[] {
    if (this.#values.size === 0) return [`${this.name} 0`];
    return [...this.#values.values()].map((s) => `${this.name}${labelText(s.labels)} ${num(s.value)}`);
  }
}

/** A value sampled when the metrics are rendered. */
export class Gauge extends Metric {
  readonly type = 'gauge';
  constructor(
    name: string,
    help: string,
    readonly sample: () => number,
  ) {
    super(name, help);
  }
  protected samples(): string[] {
    return [`${this.name} ${num(this.sample())}`];
  }
}

/** One sample of a labelled metric. */
export interface LabelledSample {
  readonly labels: Labels;
  readonly value: number;
}

/**
 * A metric whose samples, one per label set, are read when the metrics are rendered: a
 * gauge, or a counter whose count is kept outside the registry (in the store, so it survives
 * a restart). A label set without a sample is left out: Prometheus reads a missing series as
 * "unknown", where a 0 would claim a value.
 */
export class SampledMetric extends Metric {
  constructor(
    name: string,
    help: string,
    readonly type: 'gauge' | 'counter',
    readonly sample: () => readonly LabelledSample[],
  ) {
    super(name, help);
  }
  protected samples(): string[] {
    return this.sample().map((s) => `${this.name}${labelText(s.labels)} ${num(s.value)}`);
  }
}

/** Observations counted into fixed cumulative buckets (upper bounds, ascending). */
export class Histogram extends Metric {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  constructor(name: string, help: string, bounds: readonly number[]) {
    super(name, help);
    if (
      bounds.length === 0 ||
      bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (bounds[i - 1] as number)))
    )
      throw new RangeError('histogram bounds must be finite and strictly ascending');
    this.#bounds = bounds;
    this.#counts = bounds.map(() => 0);
  }
  observe(v: number): void {
    this.#sum += v;
    this.#count += 1;
    for (let i = 0; i < this.#bounds.length; i++)
      if (v <= (this.#bounds[i] as number)) this.#counts[i] = (this.#counts[i] as number) + 1;
  }
  get count(): number {
    return this.#count;
  }
  protected samples(): string[] {
    const out = this.#bounds.map(
      (b, i) => `${this.name}_bucket${labelText({}, ['le', num(b)])} ${this.#counts[i] as number}`,
    );
    out.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`);
    out.push(`${this.name}_sum ${num(this.#sum)}`, `${this.name}_count ${this.#count}`);
    return out;
  }
}

/** Renders metrics in order, as one exposition document (`text/plain; version=0.0.4`). */
export function renderExposition(metrics: readonly Metric[]): string {
  return `${metrics.map((m) => m.render()).join('\n')}\n`;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type { Metric };
