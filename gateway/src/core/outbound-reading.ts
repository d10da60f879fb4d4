/**
 * @module core/outbound-reading
 * One accepted reading as the outbound interfaces send it (issue 19): the one shape the
 * message builders (core/hl7/pcd01, core/fhir/push) and the delivery engine
 * (io/interfaces) share. Pure data.
 */
import type { Observations } from '../protocol/frame.js';

export interface OutboundReading {
  /** Stable identifier of the reading: `<dev>:<seq>` (de-duplication key at the receiver). */
  id: string;
  dev: string;
  seq: number;
  /** Device clock, ms since epoch. */
  ts: number;
  /** When the gateway accepted it (gateway clock, ms). */
  acceptedAt: number;
  obs: Observations;
  /** The reading's position in the transparency log. */
  leafIndex: number;
  /** The first anchored checkpoint covering it, when there is one yet (the proof reference). */
  anchored?: { treeSize: number; rootHash: string; txHash: string; blockNumber: number };
  /** The bed and patient the device was bound to at `ts` (sealed at rest; opened for delivery). */
  binding?: { bed: string; patientId: string };
  /** The log's origin (`vitaltrail/<gateway-id>`), for references to the proof. */
  origin: string;
}
