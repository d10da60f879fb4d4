/**
 * @module core/hl7/pcd01
 * One accepted reading as one IHE PCD-01 (Device Enterprise Communication, IHE PCD TF-2 §3.1)
 * HL7 v2.6 `ORU^R01^ORU_R01` message in ER7 (issue 19). Pure: no I/O, no clock (`now` is given).
 *
 * Layout (the README "Into the hospital's systems" section describes each field):
 * ```
 * MSH  MSH-9 ORU^R01^ORU_R01, MSH-10 = reading id (<dev>:<seq>, the same on every resend),
 *      MSH-12 2.6, MSH-15 AL / MSH-16 NE (commit acknowledgement only), MSH-18 UNICODE UTF-8,
 *      MSH-21 IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO
 * PID  PID-1 1, PID-3 <patientId>^^^<authority>^PI and PID-5 ^^^^^^U when the device is
 *      bound; `PID|1` only when it is not (below)
 * PV1  PV1-1 1, PV1-2 I and PV1-3 ^^<bed> when bound; `PV1|1|U` when not
 * OBR  OBR-3 <reading id>^^<origin>^L, OBR-4 182777000^monitoring of patient^SCT, OBR-7 = ts
 * NTE  proof reference: `vitaltrail-log origin=… leaf=…[ tree_size=… root=… tx=… block=…]`
 * OBX  MDS 1.0.0.0, per VMD: VMD 1.v.0.0, channel 1.v.1.0, metrics 1.v.1.m (NM, MDC + LOINC,
 *      MDC + UCUM unit, OBX-11 R, OBX-14 = ts, OBX-18 <dev>^^<origin>^L)
 * ```
 * An unbound device (no patient bound at `ts`): PID carries no identifier or name, PV1-2 is
 * `U` (unknown) and PV1-3 is empty; the receiver must not file such a message to a patient
 * by any other field (OBX-18 names the device, for device-association workflows).
 * Every text component is escaped (core/hl7/er7: `\` `|` `^` `&` `~` → `\E\` `\F\` `\S\` `\T\`
 * `\R\`, CR/LF → `\X0D\` `\X0A\`).
 */

import { type Hl7Field, Hl7Message, type Hl7Segment } from '@medplum/core';
import type { OutboundReading } from '../outbound-reading.js';
import {
  ei,
  field,
  type HeaderOptions,
  hl7Time,
  type MessageKind,
  msh,
  patientSegments,
  segment,
  term,
} from './er7.js';
import {
  LOINC_SYSTEM,
  MDC_SYSTEM,
  MDC_VITALS,
  MDS_TERM,
  type MdcTerm,
  PCD01_ORDER,
  scaledValue,
  UCUM_SYSTEM,
  type VmdSpec,
} from './mdc.js';

export { escapeHl7, type Hd, hl7Time } from './er7.js';

/** MSH-9 and MSH-21: `ORU^R01^ORU_R01`, the IHE PCD-01 message profile. */
export const PCD01_KIND: MessageKind = {
  type: ['ORU', 'R01', 'ORU_R01'],
  profile: ['IHE_PCD_001', 'IHE PCD', '1.3.6.1.4.1.19376.1.6.1.1.1', 'ISO'],
};
/** MSH-21: the IHE PCD-01 message profile. */
export const PCD01_PROFILE = PCD01_KIND.profile;
/** OBR-4: "monitoring of patient" (SNOMED CT), as PCD-01 device data uses it. */
export const PCD01_SERVICE = ['182777000', 'monitoring of patient', 'SCT'] as const;
/** NTE-4: the (local) comment type of the proof-reference note. */
export const PROOF_NOTE_TYPE = ['VTLOG', 'VitalTrail transparency-log reference', '99VTL'] as const;

/** What the message needs of a reading (core/outbound-reading): all but its acceptance time. */
export type Pcd01Reading = Omit<OutboundReading, 'acceptedAt'>;

/** MSH-3..7, MSH-11 and the patient-id authority (core/hl7/er7). */
export type Pcd01Options = HeaderOptions;

/** The NTE-3 text of the proof reference (README: "Proof reference"). */
export function proofNote(r: Pcd01Reading): string {
  const base = `vitaltrail-log origin=${r.origin} leaf=${r.leafIndex}`;
  const a = r.anchored;
  if (!a) return base;
  return `${base} tree_size=${a.treeSize} root=${a.rootHash} tx=${a.txHash} block=${a.blockNumber}`;
}

/** The order group of one reading: OBR (OBR-1 = `n`), the proof NTE, its OBX. */
function readingSegments(r: Pcd01Reading, n: number): Hl7Segment[] {
  const time = hl7Time(r.ts);
  const obr = segment('OBR', {
    1: field(n),
    3: ei(r.id, r.origin),
    4: field(...PCD01_SERVICE),
    7: field(time),
  });
  const nte = segment('NTE', {
    1: field(1),
    2: field('O'),
    3: field(proofNote(r)),
    4: field(...PROOF_NOTE_TYPE),
  });

  const device = ei(r.dev, r.origin);
  const obx: Hl7Segment[] = [];
  const deviceObx = (t: MdcTerm, subId: string, equipment?: Hl7Field): void => {
    const f: Record<number, Hl7Field> = {
      1: field(obx.length + 1),
      3: term(t),
      4: field(subId),
      11: field('X'),
    };
    if (equipment) f[18] = equipment;
    obx.push(segment('OBX', f));
  };
  deviceObx(MDS_TERM, '1.0.0.0', device);
  let openVmd: VmdSpec | undefined;
  for (const key of PCD01_ORDER) {
    const raw = r.obs[key];
    if (typeof raw !== 'number') continue;
    const v = MDC_VITALS[key];
    if (openVmd !== v.vmd) {
      openVmd = v.vmd;
      deviceObx(v.vmd.vmd, `1.${v.vmd.index}.0.0`);
      deviceObx(v.vmd.chan, `1.${v.vmd.index}.1.0`);
    }
    obx.push(
      segment('OBX', {
        1: field(obx.length + 1),
        2: field('NM'),
        3: field(v.metric.num, v.metric.refid, MDC_SYSTEM, v.loinc, v.display, LOINC_SYSTEM),
        4: field(`1.${v.vmd.index}.1.${v.metricIndex}`),
        5: field(scaledValue(raw, v.decimals)),
        6: field(v.unit.num, v.unit.refid, MDC_SYSTEM, v.ucum, v.ucum, UCUM_SYSTEM),
        11: field('R'),
        14: field(time),
        18: device,
      }),
    );
  }
  return [obr, nte, ...obx];
}

/**
 * The PCD-01 message of one reading, as an Hl7Message (what @medplum/hl7's client sends).
 * @example
 * const msg = buildPcd01Message(reading, { sendingApp: 'VITALTRAIL', sendingFacility: 'WARD3',
 *   receivingApp: 'EHR', receivingFacility: 'HOSP', now: new Date() });
 */
export function buildPcd01Message(r: Pcd01Reading, o: Pcd01Options): Hl7Message {
  return new Hl7Message([
    msh(o, PCD01_KIND, r.id),
    ...patientSegments(r.binding, o),
    ...readingSegments(r, 1),
  ]);
}

/**
 * "Per interval": one PCD-01 message for several readings of one device and one binding
 * (core/interval-groups), one OBR group each (OBR-1 1…n, each with its own OBR-3 reading id,
 * OBR-7 device time and proof NTE), under the group's MSH-10 `id`.
 * @throws {RangeError} when `readings` is empty
 */
export function buildPcd01GroupMessage(
  readings: readonly Pcd01Reading[],
  id: string,
  o: Pcd01Options,
): Hl7Message {
  const first = readings[0];
  if (!first) throw new RangeError('a PCD-01 group needs a reading');
  return new Hl7Message([
    msh(o, PCD01_KIND, id),
    ...patientSegments(first.binding, o),
    ...readings.flatMap((r, i) => readingSegments(r, i + 1)),
  ]);
}

/** The PCD-01 message of one reading as ER7 text (segments joined by CR, no MLLP framing). */
export function buildPcd01(r: Pcd01Reading, o: Pcd01Options): string {
  return buildPcd01Message(r, o).toString();
}
