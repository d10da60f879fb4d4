/**
 * @module core/hl7/pcd04
 * One alarm transition as one IHE PCD-04 (Report Alert, IHE PCD TF-2 §3.4; the Alert Reporter
 * of the ACM profile) HL7 v2.6 `ORU^R40^ORU_R40` message to an alarm manager (issue 19).
 * Pure: no I/O, no clock (`now` is given).
 *
 * Layout (the README "Into the hospital's systems" section describes each field):
 * ```
 * MSH  MSH-9 ORU^R40^ORU_R40, MSH-10 = transition id (alarm-event:<n>, the same on every
 *      resend), MSH-15 AL / MSH-16 NE, MSH-21 IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4.1^ISO
 * PID  PV1  as in PCD-01 (core/hl7/er7), from the binding at the transition's time
 * OBR  OBR-2 and OBR-3 <alarm id>^^<origin>^L (the alarm instance: the same id on every
 *      transition of one alarm, the id PCD-05 answers with), OBR-4 196616^MDC_EVT_ALARM^MDC,
 *      OBR-7 = transition time
 * OBX  the ACM facets of one alert, sub-ids <source>.<facet> (source 1.<vmd>.1.<metric> for
 *      a vital's limit alarm, 1.0.0.0 for one of the device or gateway):
 *      .1 CWE 196616^MDC_EVT_ALARM^MDC  = event code^^system^^^^^^alert text,
 *         OBX-8 priority~type[~L|H], OBX-14 time, OBX-18 <dev>^^<origin>^L
 *      .2 CWE 68480^MDC_ATTR_ALERT_SOURCE^MDC = the metric (or the MDS) the alert is about
 *      .3 ST 68481^MDC_ATTR_EVENT_PHASE^MDC        start | escalate | continue | update | end
 *      .4 ST 68482^MDC_ATTR_ALARM_STATE^MDC        active | latched | inactive
 *      .5 ST 68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC  enabled | alert-acknowledged
 *         (OBX-16 = the user who acknowledged)
 *      .6 ST 68484^MDC_ATTR_ALARM_PRIORITY^MDC     PH | PM | PL
 *      .7 ST 68485^MDC_ATTR_ALERT_TYPE^MDC         SP | ST
 * ```
 * Values are not sent: the gateway keeps no plaintext vital at rest (ARCHITECTURE.md
 * guarantee 4) and the alarm feed is replayed from durable state; the reading that raised
 * the alarm reaches the record through PCD-01, with its proof. Limit alarms use MDC_EVT_HI /
 * MDC_EVT_LO; the gateway's other conditions (device offline, signal loss, NEWS2, battery,
 * signature failures, gateway health) are local codes of the `99VTL` system.
 */
import { Hl7Message, type Hl7Segment } from '@medplum/core';
import type { AlarmPriority } from '../alarms/index.js';
import type { OutboundAlarm } from '../outbound-alarm.js';
import {
  ei,
  field,
  type HeaderOptions,
  hl7Time,
  type MessageKind,
  msh,
  patientSegments,
  repeated,
  segment,
  term,
} from './er7.js';
import { MDC_SYSTEM, MDC_VITALS, MDS_TERM, type MdcTerm } from './mdc.js';

/** MSH-9 and MSH-21: `ORU^R40^ORU_R40`, the IHE PCD ACM Report Alert profile. */
export const PCD04_KIND: MessageKind = {
  type: ['ORU', 'R40', 'ORU_R40'],
  profile: ['IHE_PCD_ACM_001', 'IHE PCD', '1.3.6.1.4.1.19376.1.6.4.4.1', 'ISO'],
};

/** The local coding system of the gateway's own alert codes (HL7 table 0396 `99zzz`). */
export const LOCAL_SYSTEM = '99VTL';

export const MDC_EVT_ALARM: MdcTerm = { num: 196616, refid: 'MDC_EVT_ALARM' };
export const MDC_EVT_HI: MdcTerm = { num: 196648, refid: 'MDC_EVT_HI' };
export const MDC_EVT_LO: MdcTerm = { num: 196670, refid: 'MDC_EVT_LO' };
/** The ACM facets (IHE PCD TF-2 §3.4.4.x OBX 2..7). */
export const FACETS = {
  source: { num: 68480, refid: 'MDC_ATTR_ALERT_SOURCE' },
  phase: { num: 68481, refid: 'MDC_ATTR_EVENT_PHASE' },
  state: { num: 68482, refid: 'MDC_ATTR_ALARM_STATE' },
  inactivation: { num: 68483, refid: 'MDC_ATTR_ALARM_INACTIVATION_STATE' },
  priority: { num: 68484, refid: 'MDC_ATTR_ALARM_PRIORITY' },
  type: { num: 68485, refid: 'MDC_ATTR_ALERT_TYPE' },
} as const satisfies Record<string, MdcTerm>;

/** Transition → event phase, alarm state and inactivation state. */
export const TRANSITION_FACETS: Readonly<
  Record<string, { phase: string; state: string; inactivation: string }>
> = {
  raised: { phase: 'start', state: 'active', inactivation: 'enabled' },
  escalated: { phase: 'escalate', state: 'active', inactivation: 'enabled' },
  renotified: { phase: 'continue', state: 'active', inactivation: 'enabled' },
  reactivated: { phase: 'update', state: 'active', inactivation: 'enabled' },
  latched: { phase: 'update', state: 'latched', inactivation: 'enabled' },
  acknowledged: { phase: 'update', state: 'active', inactivation: 'alert-acknowledged' },
  cleared: { phase: 'end', state: 'inactive', inactivation: 'enabled' },
};

const PRIORITY_FLAG: Readonly<Record<AlarmPriority, string>> = { high: 'PH', medium: 'PM', low: 'PL' };

const VITAL_TEXT: Readonly<Record<string, string>> = {
  hr: 'Heart rate',
  spo2: 'SpO2',
  rr: 'Respiration rate',
  temp: 'Temperature',
  sbp: 'Systolic BP',
  dbp: 'Diastolic BP',
};

/** The gateway's own alert codes: local code, text. */
const LOCAL_TEXT: Readonly<Record<string, string>> = {
  device_offline: 'Device offline',
  device_revoked: 'Device certificate revoked',
  news2: 'NEWS2 trigger',
  battery_low: 'Battery low',
  signature_failures: 'Signature failures',
  storage_failing: 'Gateway storage failing',
  ingress_throttled: 'Ingress throttled',
  anchoring_delayed: 'Anchoring delayed',
  break_glass_access: 'Break-glass access to the record',
};

/** What the message says about one alarm code: event, source, sub-id, abnormality, text. */
export interface AlertCoding {
  event: { code: string; refid: string; system: string };
  source: MdcTerm;
  /** OBX-4 without the facet number. */
  subId: string;
  abnormality?: 'H' | 'L';
  text: string;
}

/** The coding of an alarm code (`spo2_low`, `signal_loss_hr`, `device_offline`, …). */
export function alertCoding(code: string): AlertCoding {
  const limit = /^(hr|spo2|rr|temp|sbp|dbp)_(high|low)$/.exec(code);
  if (limit) {
    const v = MDC_VITALS[limit[1] as keyof typeof MDC_VITALS];
    const high = limit[2] === 'high';
    const evt = high ? MDC_EVT_HI : MDC_EVT_LO;
    return {
      event: { code: String(evt.num), refid: evt.refid, system: MDC_SYSTEM },
      source: v.metric,
      subId: `1.${v.vmd.index}.1.${v.metric.num}`,
      abnormality: high ? 'H' : 'L',
      text: `${VITAL_TEXT[limit[1] as string]} ${high ? 'high' : 'low'}`,
    };
  }
  const loss = /^signal_loss_(hr|spo2|rr|temp|sbp|dbp)$/.exec(code);
  if (loss) {
    const v = MDC_VITALS[loss[1] as keyof typeof MDC_VITALS];
    return {
      event: { code, refid: code, system: LOCAL_SYSTEM },
      source: v.metric,
      subId: `1.${v.vmd.index}.1.${v.metric.num}`,
      text: `Signal loss: ${VITAL_TEXT[loss[1] as string]}`,
    };
  }
  return {
    event: { code, refid: code, system: LOCAL_SYSTEM },
    source: MDS_TERM,
    subId: '1.0.0.0',
    text: LOCAL_TEXT[code] ?? code,
  };
}

/** What the message needs of a transition, and the log origin that names the device. */
export type Pcd04Alarm = Omit<OutboundAlarm, 'bed' | 'comment'>;

/**
 * The PCD-04 message of one alarm transition.
 * @example
 * buildPcd04Message(alarm, 'vitaltrail/ward-3', { sendingApp: 'VITALTRAIL', sendingFacility: 'WARD3',
 *   receivingApp: 'AM', receivingFacility: 'HOSP', now: new Date() });
 */
export function buildPcd04Message(a: Pcd04Alarm, origin: string, o: HeaderOptions): Hl7Message {
  const c = alertCoding(a.code);
  const facets = TRANSITION_FACETS[a.event] ?? { phase: 'update', state: 'active', inactivation: 'enabled' };
  const priority = PRIORITY_FLAG[a.priority as AlarmPriority] ?? 'PU';
  const time = hl7Time(a.at);
  const [pid, pv1] = patientSegments(a.binding, o);
  const alarmEi = ei(a.alarmId, origin);
  const obr = segment('OBR', { 1: field(1), 2: alarmEi, 3: alarmEi, 4: term(MDC_EVT_ALARM), 7: field(time) });
  const obx: Hl7Segment[] = [];
  const facet = (
    n: number,
    type: 'ST' | 'CWE',
    id: MdcTerm,
    value: string,
    more: Record<number, unknown> = {},
  ) =>
    obx.push(
      segment('OBX', {
        1: field(obx.length + 1),
        2: field(type),
        3: term(id),
        4: field(`${c.subId}.${n}`),
        5: field(value),
        11: field('F'),
        ...(more as Record<number, ReturnType<typeof field>>),
      }),
    );
  obx.push(
    segment('OBX', {
      1: field(1),
      2: field('CWE'),
      3: term(MDC_EVT_ALARM),
      4: field(`${c.subId}.1`),
      5: field(c.event.code, c.event.refid, c.event.system, '', '', '', '', '', c.text),
      8: repeated(priority, a.kind === 'technical' ? 'ST' : 'SP', ...(c.abnormality ? [c.abnormality] : [])),
      11: field('F'),
      14: field(time),
      18: ei(a.dev, origin),
    }),
  );
  obx.push(
    segment('OBX', {
      1: field(2),
      2: field('CWE'),
      3: term(FACETS.source),
      4: field(`${c.subId}.2`),
      5: term(c.source),
      11: field('F'),
    }),
  );
  facet(3, 'ST', FACETS.phase, facets.phase);
  facet(4, 'ST', FACETS.state, facets.state);
  facet(5, 'ST', FACETS.inactivation, facets.inactivation, a.by ? { 16: field(a.by) } : {});
  facet(6, 'ST', FACETS.priority, priority);
  facet(7, 'ST', FACETS.type, a.kind === 'technical' ? 'ST' : 'SP');
  return new Hl7Message([msh(o, PCD04_KIND, a.id), pid, pv1, obr, ...obx]);
}
