/**
 * @module core/outbound-alarm
 * One alarm transition as the outbound alarm interfaces send it (issue 19: "every alarm
 * raised, escalated, acknowledged or cleared goes out"): the recorded transition
 * (core/live-contract `AlarmEventDto`), its stable ids, and the bed and patient its device
 * was bound to when it happened. The one shape the alarm feed (io/interfaces/alarm-source),
 * the webhook and the IHE PCD-04 builder (core/hl7/pcd04) share. Pure data.
 */
import type { AlarmEventDto } from './live-contract.js';

export interface OutboundAlarm extends AlarmEventDto {
  /** Stable id of this transition (`alarm-event:<n>`): the de-duplication key. */
  id: string;
  eventId: number;
  /** The bed of the device at the transition, or null (not bound, or a gateway alarm). */
  bed: string | null;
  /**
   * The bed and patient bound at the transition (the patient id is sealed at rest and
   * opened for delivery). Sent to the alarm manager (PCD-04 PID); never in the webhook's
   * body, which names the bed only.
   */
  binding?: { bed: string; patientId: string };
}
