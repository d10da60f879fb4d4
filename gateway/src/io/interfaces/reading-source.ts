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
import { decodeFrame } from '../../protocol/frame.js';
import { toHex } from '../anchoring/index.js';
import type { Bindings, CheckpointRow, GatewayStore } from '../store/index.js';
import { SealedReader } from '../store/index.js';
import type { DeliverySource, OutboundReading } from './receiver.js';

export class ReadingSource implements DeliverySource<OutboundReading> {
  readonly kind = 'log';
  readonly #store: GatewayStore;
  readonly #secrets: readonly RecipientSecret[];
  readonly #bindings: Bindings | null;
  readonly #origin: string;

  constructor(p: {
    store: GatewayStore;
    secrets: readonly RecipientSecret[];
    bindings: Bindings | null;
    origin: string;
  }) {
    this.#store = p.store;
    this.#secrets = p.secrets;
    this.#bindings = p.bindings;
    this.#origin = p.origin;
  }

  /**
   * Up to `limit` frames from log position `fromLeaf` on, as readings.
   * @returns the readings (`items`) and the log position after the last frame looked at
   *   (shredded ones included), where the next read starts once these are delivered.
   * @throws {SealedError} `no_recipient_key`, `integrity_error` (stored data that does not
   *   authenticate is never sent).
   */
  async after(fromLeaf: number, limit: number): Promise<{ items: OutboundReading[]; next: number }> {
    const rows = this.#store.framesFrom(fromLeaf, limit);
    if (rows.length === 0) return { items: [], next: fromLeaf };
    const frames = await new SealedReader(this.#store, this.#secrets).read(rows);
    const anchored = this.#store
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
        origin: this.#origin,
      };
      const cp = coverOf(anchored, row.leafIndex);
      if (cp)
        r.anchored = {
          treeSize: cp.treeSize,
          rootHash: toHex(cp.root),
          txHash: cp.txHash!,
          blockNumber: cp.blockNumber!,
        };
      const b = await this.#bindings?.at(row.dev, row.ts);
      if (b) r.binding = { bed: b.bed, patientId: b.patientId };
      readings.push(r);
    }
    return { items: readings, next: rows.at(-1)!.leafIndex + 1 };
  }

  positionOf(r: OutboundReading): number {
    return r.leafIndex;
  }

  idOf(r: OutboundReading): string {
    return r.id;
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
