/**
 * @module core/hl7/pcd05
 * The way back from the alarm manager (issue 19: "an acknowledgement that comes back
 * (PCD-05/ACK …) acknowledges the alarm in VitalTrail in the name of the nurse who sent
 * it"): reading one IHE PCD-05 (Report Alert Dissemination Status, IHE PCD TF-2 §3.5)
 * `ORU^R41^ORU_R41` message. Pure: it says what the message asks, the I/O shell
 * (io/interfaces/pcd05-listener) does it and answers.
 *
 * What is read (README "Into the hospital's systems", "Acknowledgements from the alarm
 * manager"):
 * - MSH-9 `ORU^R41` (anything else: `AR`, unsupported);
 * - the alarm: OBR-3.1 (else OBR-2.1), the alarm id the gateway sent in PCD-04 OBR-2/3;
 * - the dissemination status: the OBX-5 of each OBX, compared without case and with
 *   spaces, `_` and `-` alike. `accepted by endpoint operator` (the clinician accepted the
 *   alert on the phone) is an acknowledgement; every other status (delivered, read,
 *   rejected, cancelled, …) is noted and changes nothing;
 * - the operator: OBX-16.1 (responsible observer) of that OBX — a user of the gateway.
 */
import type { Hl7Message } from '@medplum/core';

/** Alarm ids are UUIDs (io/clinical). */
const ALARM_ID = /^[0-9a-f-]{36}$/;
/** Gateway user names (io/identity). */
const USER = /^[A-Za-z0-9._-]{1,64}$/;
const ACCEPTED = 'accepted-by-endpoint-operator';

/** What a PCD-05 message asks. */
export type Pcd05Request =
  | { kind: 'acknowledge'; alarmId: string; user: string; status: string }
  | { kind: 'status'; alarmId: string; status: string }
  | { kind: 'invalid'; ack: 'AR' | 'AE'; reason: string };

const norm = (s: string) =>
  s
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, '-');

/** Reads one received message (ER7 already parsed by @medplum/hl7). */
export function readPcd05(msg: Hl7Message): Pcd05Request {
  const type = msg.getSegment('MSH')?.getField(9);
  if (type?.getComponent(1) !== 'ORU' || type.getComponent(2) !== 'R41')
    return { kind: 'invalid', ack: 'AR', reason: 'only ORU^R41 (IHE PCD-05) is accepted here' };
  const obr = msg.getSegment('OBR');
  const alarmId = (obr?.getComponent(3, 1) || obr?.getComponent(2, 1) || '').trim();
  if (!ALARM_ID.test(alarmId))
    return { kind: 'invalid', ack: 'AE', reason: 'OBR-3 does not name an alarm of this gateway' };
  const statuses = msg.getAllSegments('OBX').map((s) => ({
    status: s.getField(5)?.toString() ?? '',
    user: (s.getComponent(16, 1) ?? '').trim(),
  }));
  const accepted = statuses.find((s) => norm(s.status) === ACCEPTED);
  if (!accepted) {
    const status = statuses.find((s) => s.status.trim() !== '')?.status.trim() ?? '';
    if (!status) return { kind: 'invalid', ack: 'AE', reason: 'no dissemination status (OBX-5)' };
    return { kind: 'status', alarmId, status: status.slice(0, 64) };
  }
  if (!USER.test(accepted.user))
    return { kind: 'invalid', ack: 'AE', reason: 'the accepting operator (OBX-16) is missing or malformed' };
  return { kind: 'acknowledge', alarmId, user: accepted.user, status: ACCEPTED };
}
