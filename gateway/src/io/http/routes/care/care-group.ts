/**
 * @module io/http/routes/care/care-group
 * A patient's readings, trend and ECG across a gateway group (issues 16 and 18): each gateway
 * stores the frames the broker gave it, so the care routes ask every peer as the ward's data
 * routes do (io/http/routes/peer-fanout `withPeers`), with the caller's session cookie and `PEER_HEADER`.
 * The difference is who decides and who logs: the answering gateway authorizes first (a
 * refusal there asks no peer), and each peer authorizes the request again by itself (the
 * same chain's consents, its own break-glass openings) and appends its own access-log entry
 * for what it served; a peer's refusal is an error answer, so the gateway is named in
 * `missing`, never counted as data. Merged as the ward's: readings and ECG strips once per
 * (dev, seq), by time; trend buckets per device and binding period by core/trend `mergeSeries`.
 */
import { mergeSeries, type TrendSeries } from '../../../../core/trend.js';
import type { PeerGroup } from '../peer-fanout.js';

/** This gateway's id and where the group's others are (io/http/routes/peer-fanout `PeerGroup`). */
export type CareGroup = PeerGroup;

/** A row of a device's frames: a reading or an ECG strip. */
type FrameRow = { dev: string; seq: number; ts: number };

/** Every part's rows, a frame two gateways stored (a redelivery) once, by time, device and seq. */
export function mergeRows<R extends FrameRow>(parts: readonly (readonly R[] | undefined)[]): R[] {
  const byFrame = new Map<string, R>();
  for (const part of parts)
    for (const r of part ?? []) {
      const key = `${r.dev}\u0000${r.seq}`;
      if (!byFrame.has(key)) byFrame.set(key, r);
    }
  return [...byFrame.values()].sort((p, q) => p.ts - q.ts || (p.dev < q.dev ? -1 : 1) || p.seq - q.seq);
}

/** One device's trend within one binding period (the care trend's `devices`). */
export interface DeviceTrend {
  dev: string;
  from: number;
  to: number;
  series: TrendSeries;
}

/** Every part's device trends, the buckets of one device and period merged (same grid on every gateway). */
export function mergeDeviceTrends(parts: readonly (readonly DeviceTrend[] | undefined)[]): DeviceTrend[] {
  const byPeriod = new Map<string, { d: DeviceTrend; series: TrendSeries[] }>();
  for (const part of parts)
    for (const d of part ?? []) {
      const key = `${d.dev}\u0000${d.from}\u0000${d.to}`;
      const seen = byPeriod.get(key);
      if (seen) seen.series.push(d.series);
      else byPeriod.set(key, { d, series: [d.series] });
    }
  return [...byPeriod.values()]
    .map(({ d, series }) => ({ dev: d.dev, from: d.from, to: d.to, series: mergeSeries(series) }))
    .sort((p, q) => p.from - q.from || (p.dev < q.dev ? -1 : p.dev > q.dev ? 1 : 0) || p.to - q.to);
}
