/**
 * The Prometheus text exposition writer (core/metrics), checked against the format's rules:
 * HELP/TYPE lines, escaped label values, cumulative histogram buckets with +Inf, _sum, _count.
 */
import { describe, expect, test } from 'vitest';
import {
  Counter,
  escapeLabelValue,
  Gauge,
  Histogram,
  renderExposition,
  SampledMetric,
} from '../../gateway/src/core/metrics.js';

describe('Prometheus exposition', () => {
  test('behavior: counters by label, gauges sampled at render, cumulative histogram', () => {
    const c = new Counter('vt_rejected_total', 'Rejected frames.');
    c.inc({ code: 'bad_signature' });
    c.inc({ code: 'bad_signature' }, 2);
    c.inc({ code: 'clock_skew' });
    let v = 1;
    const g = new Gauge('vt_depth', 'Depth.', () => v);
    const h = new Histogram('vt_latency_seconds', 'Latency.', [0.01, 0.1, 1]);
    for (const x of [0.005, 0.05, 0.05, 2]) h.observe(x);
    v = 7;
    expect(renderExposition([c, g, h])).toBe(
      [
        '# HELP vt_rejected_total Rejected frames.',
        '# TYPE vt_rejected_total counter',
        'vt_rejected_total{code="bad_signature"} 3',
        'vt_rejected_total{code="clock_skew"} 1',
        '# HELP vt_depth Depth.',
        '# TYPE vt_depth gauge',
        'vt_depth 7',
        '# HELP vt_latency_seconds Latency.',
        '# TYPE vt_latency_seconds histogram',
        'vt_latency_seconds_bucket{le="0.01"} 1',
        'vt_latency_seconds_bucket{le="0.1"} 3',
        'vt_latency_seconds_bucket{le="1"} 3',
        'vt_latency_seconds_bucket{le="+Inf"} 4',
        'vt_latency_seconds_sum 2.105',
        'vt_latency_seconds_count 4',
        '',
      ].join('\n'),
    );
  });

  test('behavior: an unused counter exposes 0; label values are escaped', () => {
    expect(new Counter('vt_x_total', 'X.').render()).toContain('\nvt_x_total 0');
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });

  test('behavior: a sampled metric is read at render, one line per label set; none when there is no sample', () => {
    let rows: { labels: Record<string, string>; value: number }[] = [];
    const g = new SampledMetric('vt_pending', 'Pending.', 'gauge', () => rows);
    const c = new SampledMetric('vt_sent_total', 'Sent.', 'counter', () => rows);
    expect(renderExposition([g])).toBe('# HELP vt_pending Pending.\n# TYPE vt_pending gauge\n');
    rows = [
      { labels: { receiver: 'mllp' }, value: 3 },
      { labels: { receiver: 'we"b\\hook' }, value: 1.5 },
    ];
    expect(renderExposition([g, c])).toBe(
      [
        '# HELP vt_pending Pending.',
        '# TYPE vt_pending gauge',
        'vt_pending{receiver="mllp"} 3',
        'vt_pending{receiver="we\\"b\\\\hook"} 1.5',
        '# HELP vt_sent_total Sent.',
        '# TYPE vt_sent_total counter',
        'vt_sent_total{receiver="mllp"} 3',
        'vt_sent_total{receiver="we\\"b\\\\hook"} 1.5',
        '',
      ].join('\n'),
    );
  });

  test('error: invalid names, falling counters and unordered buckets are refused', () => {
    expect(() => new Counter('vt-bad', 'x')).toThrow(RangeError);
    expect(() => new Counter('vt_ok_total', 'x').inc({}, -1)).toThrow(RangeError);
    expect(() => new Histogram('vt_h', 'x', [1, 0.5])).toThrow(RangeError);
  });
});
