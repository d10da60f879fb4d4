/**
 * @module io/interfaces/reading-source
 * What the outbound interfaces send, read from durable state (issue 19: "derived from
 * durable state by a job that can never skip one"): the frames of the log from a position
 * on, in log order (so one device's readings in seq order, and one patient's in the order
 * the gateway accepted them), opened with a recipient private key the gateway holds for its
 * interfaces (README "Into the hospital's systems": the key is what lets the gateway read
 * its own sealed data, so it lives in DATA/gateway/recipients with mode 0600), checked
 * against the log, decoded, with the bed and patient bound at the reading's time and the
 * first anchored checkpoint that proves it. Shredded frames and non-frame leaves
 * (shredding records) are passed over.
 */
import type { RecipientSecret } from '../../core/envelope.js';
import { type GroupRow, intervalGroups, intervalOf } from '../../core/interval-groups.js';
import { toHex } from '../../core/log-names.js';
import { decodeFrame } from '../../protocol/frame.js';
import type { BindingBook, CheckpointRow, FrameIndexRow, GatewayStore } from '../store/index.js';
import { SealedReader } from '../store/index.js';
import type { DeliverySource, OutboundReading } from './receiver.js';

/** What a reading source reads with. */
export interface ReadingSourceParts {
  store: GatewayStore;
  secrets: readonly RecipientSecret[];
  bindings: BindingBook | null;
  origin: string;
}

/**
 * The readings of some log rows, opened, checked and decoded, with their binding and proof
 * reference; shredded frames are left out.
 * @throws {SealedError} `no_recipient_key`, `integrity_error` (stored data that does not
 *   authenticate is never sent).
 */
async function openReadings(
  p: ReadingSourceParts,
  rows: readonly FrameIndexRow[],
): Promise<OutboundReading[]> {
  if (rows.length === 0) return [];
  const frames = await new SealedReader(p.store, p.secrets).read(rows);
  const anchored = p.store
    .anchoredCheckpoints()
    .filter((c) => c.txHash !== null && c.blockNumber !== null)
    .sort((a, b) => a.treeSize - b.treeSize);
  const readings: OutboundReading[] = [];
  for (const [i, row] of rows.entries()) {
    const bytes = frames[i]!;
    if (bytes === 'shredded') continue;
    const body = decodeFrame(bytes).body;
    const r: OutboundReading = {
      id: `${row.dev}:${row.seq}`,
      dev: row.dev,
      seq: row.seq,
      ts: row.ts,
      acceptedAt: row.acceptedAt,
      obs: body.obs,
      leafIndex: row.leafIndex,
      origin: p.origin,
    };
    const cp = coverOf(anchored, row.leafIndex);
    if (cp)
      r.anchored = {
        treeSize: cp.treeSize,
        rootHash: toHex(cp.root),
        txHash: cp.txHash!,
        blockNumber: cp.blockNumber!,
      };
    const b = await p.bindings?.at(row.dev, row.ts);
    if (b) r.binding = { bed: b.bed, patientId: b.patientId };
    readings.push(r);
  }
  return readings;
}

/** One reading per message (PCD-01 per reading, FHIR). */
export class ReadingSource implements DeliverySource<OutboundReading> {
  readonly kind = 'log';
  readonly #p: ReadingSourceParts;

  constructor(p: ReadingSourceParts) {
    this.#p = p;
  }

  /**
   * Up to `limit` frames from log position `fromLeaf` on, as readings.
   * @returns the readings (`items`) and the log position after the last frame looked at
   *   (shredded ones included), where the next read starts once these are delivered.
   * @throws {SealedError} as `openReadings`.
   */
  async after(fromLeaf: number, limit: number): Promise<{ items: OutboundReading[]; next: number }> {
    const rows = this.#p.store.framesFrom(fromLeaf, limit);
    if (rows.length === 0) return { items: [], next: fromLeaf };
    return { items: await openReadings(this.#p, rows), next: rows.at(-1)!.leafIndex + 1 };
  }

  positionOf(r: OutboundReading): number {
    return r.leafIndex;
  }

  idOf(r: OutboundReading): string {
    return r.id;
  }

  /** The reading `<dev>:<seq>` at log position `leaf` (a dead letter's replay). */
  async item(id: string, leaf: number): Promise<OutboundReading | 'shredded' | null> {
    const row = this.#p.store.framesFrom(leaf, 1)[0];
    if (!row || row.leafIndex !== leaf || `${row.dev}:${row.seq}` !== id) return null;
    return (await openReadings(this.#p, [row]))[0] ?? 'shredded';
  }
}

/** The readings of one PCD-01 "per interval" message (core/interval-groups). */
export interface OutboundReadingGroup {
  /** MSH-10: `<dev>:<first seq>-<last seq>`, the same on every resend. */
  id: string;
  readings: OutboundReading[];
  /** Where the cursor may move once this group is delivered. */
  next: number;
}

/** Index rows read per page while looking for an interval's end. */
const PAGE = 5000;
/** Most index rows one round reads (an interval of a very busy ward is sent over several). */
const MAX_SCAN = 500_000;

/**
 * PCD-01 "per interval" (`outbound.mllp.intervalSeconds`): the readings of one device, one
 * interval of acceptance time and one binding in one message, sent once the interval has
 * closed (core/interval-groups says which readings, deterministically from the log).
 */
export class IntervalReadingSource implements DeliverySource<OutboundReadingGroup> {
  readonly kind = 'log';
  readonly #p: ReadingSourceParts;
  readonly #intervalMs: number;
  readonly #now: () => number;

  constructor(p: ReadingSourceParts & { intervalMs: number; now?: () => number }) {
    this.#p = p;
    this.#intervalMs = p.intervalMs;
    this.#now = p.now ?? Date.now;
  }

  async after(fromLeaf: number, limit: number): Promise<{ items: OutboundReadingGroup[]; next: number }> {
    const now = this.#now(); // before the log is read (core/interval-groups)
    const store = this.#p.store;
    const first = store.framesFrom(fromLeaf, 1)[0];
    const iv = (acceptedAt: number) => intervalOf(acceptedAt, this.#intervalMs);
    // Nothing to do while the cursor's interval is open (the usual case between intervals).
    if (!first || now < (iv(first.acceptedAt) + 1) * this.#intervalMs) return { items: [], next: fromLeaf };
    // Scan forward until a later interval's row than the last closed one, or the log's end.
    const rows: FrameIndexRow[] = [];
    let toEnd = false;
    for (;;) {
      const page = store.framesFrom(rows.length === 0 ? fromLeaf : rows.at(-1)!.leafIndex + 1, PAGE);
      rows.push(...page);
      if (page.length < PAGE) {
        toEnd = true;
        break;
      }
      const lastIv = iv(page.at(-1)!.acceptedAt);
      if (now < (lastIv + 1) * this.#intervalMs || rows.length >= MAX_SCAN) break;
    }
    // The rows of the cursor's interval before it (their groups were delivered).
    const before: FrameIndexRow[] = [];
    for (let to = fromLeaf; to > 0; ) {
      const from = Math.max(0, to - PAGE);
      const page = store.framesFrom(from, to - from).filter((r) => r.leafIndex < to);
      before.unshift(...page.filter((r) => iv(r.acceptedAt) === iv(first.acceptedAt)));
      if (page.length === 0 || iv(page[0]!.acceptedAt) < iv(first.acceptedAt)) break;
      to = from;
    }
    const asGroupRow = (r: FrameIndexRow): GroupRow & { row: FrameIndexRow } => ({
      dev: r.dev,
      seq: r.seq,
      acceptedAt: r.acceptedAt,
      leafIndex: r.leafIndex,
      binding: this.#p.bindings?.idAt(r.dev, r.ts) ?? null,
      row: r,
    });
    const groups = intervalGroups(
      rows.map(asGroupRow),
      before.map(asGroupRow),
      now,
      this.#intervalMs,
      toEnd,
      limit,
    );
    const items: OutboundReadingGroup[] = [];
    for (const g of groups) {
      const readings = await openReadings(
        this.#p,
        g.rows.map((r) => (r as GroupRow & { row: FrameIndexRow }).row),
      );
      // A group of shredded frames only sends nothing; the cursor still moves past it.
      if (readings.length > 0) items.push({ id: g.id, readings, next: g.next });
    }
    return { items, next: groups.at(-1)?.next ?? fromLeaf };
  }

  positionOf(g: OutboundReadingGroup): number {
    return g.next - 1;
  }

  idOf(g: OutboundReadingGroup): string {
    return g.id;
  }

  /**
   * The group `<dev>:<first seq>-<last seq>` (a dead letter's replay), built again from the
   * log: every reading of the device, the interval and the binding of its first reading
   * (one interval is one contiguous stretch of the log, core/interval-groups); null unless
   * the last of them is `<last seq>`.
   */
  async item(id: string, position: number): Promise<OutboundReadingGroup | 'shredded' | null> {
    const m = /^(.+):(\d+)-(\d+)$/.exec(id);
    const store = this.#p.store;
    const head = m ? store.getFrame(m[1]!, Number(m[2])) : undefined;
    if (!m || !head) return null;
    const iv = (r: FrameIndexRow) => intervalOf(r.acceptedAt, this.#intervalMs);
    const bindingOf = (r: FrameIndexRow) => this.#p.bindings?.idAt(r.dev, r.ts) ?? null;
    const binding = bindingOf(head);
    const rows: FrameIndexRow[] = [];
    for (let from = head.leafIndex; ; ) {
      const page = store.framesFrom(from, PAGE);
      const end = page.findIndex((r) => iv(r) !== iv(head));
      for (const r of end < 0 ? page : page.slice(0, end))
        if (r.dev === head.dev && bindingOf(r) === binding) rows.push(r);
      if (end >= 0 || page.length < PAGE) break;
      from = page.at(-1)!.leafIndex + 1;
    }
    if (rows.at(-1)?.seq !== Number(m[3])) return null;
    const readings = await openReadings(this.#p, rows);
    return readings.length === 0 ? 'shredded' : { id, readings, next: position + 1 };
  }
}

/** The first anchored checkpoint covering `leaf` (`anchored` ascending). */
function coverOf(anchored: readonly CheckpointRow[], leaf: number): CheckpointRow | undefined {
  let lo = 0;
  let hi = anchored.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (anchored[mid]!.treeSize > leaf) hi = mid;
    else lo = mid + 1;
  }
  return anchored[lo];
}
