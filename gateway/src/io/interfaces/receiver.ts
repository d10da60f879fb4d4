/**
 * @module io/interfaces/receiver
 * The contract between the delivery engine (io/interfaces/delivery) and one outbound
 * interface (IHE PCD-01 over MLLP, FHIR R4 push, the alarm webhook). The engine reads what
 * to send from durable state, in log order, and hands each receiver its messages one batch
 * at a time; a receiver sends them in order and resolves only once the receiver side has
 * acknowledged every one of them. Delivery is at least once: after a crash between the
 * receiver's acknowledgement and the engine's durable cursor, the same messages are sent
 * again, with the same stable identifiers (`OutboundReading.id`: device and seq), by which
 * the receiver side de-duplicates (HL7 MSH-10, FHIR conditional create `ifNoneExist`).
 */

import type { OutboundReading } from '../../core/outbound-reading.js';
import { errorClass } from '../../protocol/errors.js';

/** `receiver_unavailable` (retried with backoff) or `receiver_rejected` (set aside as a dead letter). */
export type { OutboundReading } from '../../core/outbound-reading.js';

export class DeliveryError extends errorClass<'delivery'>('DeliveryError') {}

/**
 * Where a receiver's messages come from, in order: the log's readings (io/interfaces/
 * reading-source) or the alarm transitions (io/interfaces/alarm-source). A position is a
 * durable cursor value: everything below `next` was looked at.
 */
export interface DeliverySource<T> {
  /** What the positions are: log positions, or alarm event ids (shown by `outbound status`). */
  readonly kind: 'log' | 'alarms';
  after(from: number, limit: number): Promise<{ items: T[]; next: number }>;
  /** The item's position (the cursor moves to position + 1 once it is delivered). */
  positionOf(item: T): number;
  /** The item's stable identifier (dead letters, de-duplication). */
  idOf(item: T): string;
  /**
   * A dead letter's item built again from durable state, exactly as `after` built it (the
   * same identifier, so the receiver de-duplicates a replay): the item at `position` whose
   * `idOf` is `id`; `'shredded'` when its readings were destroyed since; null when there is
   * no such item.
   * @throws as `after` (a failure to read: retried).
   */
  item(id: string, position: number): Promise<T | 'shredded' | null>;
}

/** One outbound interface. */
export interface Receiver<T = OutboundReading> {
  /** The configured name, e.g. `ehr-mllp` (the cursor's key). */
  readonly name: string;
  /**
   * Sends `batch` (log order; one device's readings in seq order) and resolves once every
   * message was acknowledged.
   * @throws {DeliveryError} `receiver_unavailable` (nothing after the first unacknowledged
   *   message counts as delivered: `delivered` says how many were), `receiver_rejected`
   *   for the message at `delivered`.
   */
  deliver(batch: readonly T[]): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by `Receiver.deliver`: how many messages of the batch were acknowledged before it failed. */
export function deliveryError(
  code: 'receiver_unavailable' | 'receiver_rejected',
  reason: string,
  delivered: number,
  cause?: unknown,
): DeliveryError & { delivered: number } {
  const err = new DeliveryError(
    code,
    reason,
    cause === undefined ? undefined : { cause },
  ) as DeliveryError & {
    delivered: number;
  };
  err.delivered = delivered;
  return err;
}
