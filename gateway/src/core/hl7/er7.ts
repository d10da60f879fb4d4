/**
 * @module core/hl7/er7
 * The building blocks every HL7 v2.6 message of the gateway shares (IHE PCD-01 vitals,
 * core/hl7/pcd01; IHE PCD-04 alarms, core/hl7/pcd04): ER7 escaping, the DTM time format,
 * fields and segments from raw component texts, and the header and patient segments
 * (MSH, PID, PV1), so both messages name the sender, the patient and the bed the same way.
 * Built with @medplum/core's Hl7Message/Hl7Segment/Hl7Field, which do not escape: escaping
 * is done here, component by component. Pure: no I/O, no clock (`now` is given).
 */
import { Hl7Field, Hl7Segment } from '@medplum/core';
import { MDC_SYSTEM, type MdcTerm } from './mdc.js';

/** An HD (hierarchic designator): a bare namespace id, or namespace ^ universal id ^ type. */
export type Hd = string | { namespaceId: string; universalId?: string; universalIdType?: string };

/** What every message's header and patient segments need. */
export interface HeaderOptions {
  /** MSH-3..6. */
  sendingApp: Hd;
  sendingFacility: Hd;
  receivingApp: Hd;
  receivingFacility: Hd;
  /** MSH-7. */
  now: Date;
  /** PID-3.4: the authority that assigned the patient ids of the bindings (default: empty). */
  patientIdAuthority?: Hd;
  /** MSH-11: `P` production (default), `T` training, `D` debugging. */
  processingId?: 'P' | 'T' | 'D';
}

/**
 * MSH-3..6 of every message this gateway sends: `VITALTRAIL`, its gateway id, and the
 * receiver's configured application and facility (`app` and `HOSPITAL` by default).
 */
export function senderHeader(
  gatewayId: string,
  to: { receivingApplication?: string | undefined; receivingFacility?: string | undefined },
  app: string,
): Pick<HeaderOptions, 'sendingApp' | 'sendingFacility' | 'receivingApp' | 'receivingFacility'> {
  return {
    sendingApp: 'VITALTRAIL',
    sendingFacility: gatewayId,
    receivingApp: to.receivingApplication ?? app,
    receivingFacility: to.receivingFacility ?? 'HOSPITAL',
  };
}

/** A message type (MSH-9) and profile (MSH-21). */
export interface MessageKind {
  type: readonly [code: string, trigger: string, structure: string];
  profile: readonly [id: string, namespace: string, oid: string, oidType: string];
}

const ESCAPES: Record<string, string> = {
  '\\': '\\E\\',
  '|': '\\F\\',
  '^': '\\S\\',
  '&': '\\T\\',
  '~': '\\R\\',
  '\r': '\\X0D\\',
  '\n': '\\X0A\\',
};

/** ER7 escaping of one text component (HL7 v2.6 §2.7.4). */
export function escapeHl7(text: string): string {
  return text.replace(/[\\|^&~\r\n]/g, (c) => ESCAPES[c] as string);
}

/** HL7 DTM in UTC with milliseconds: `YYYYMMDDHHMMSS.SSS+0000`. */
export function hl7Time(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-11-21T08:00:00.005Z
  return `${iso.slice(0, 19).replace(/[-:T]/g, '')}.${iso.slice(20, 23)}+0000`;
}

/** A field of one repetition from raw (unescaped) component texts. */
export function field(...components: readonly (string | number | undefined)[]): Hl7Field {
  return new Hl7Field([components.map((c) => escapeHl7(c === undefined ? '' : String(c)))]);
}

/** A field of several repetitions, each one raw component text (e.g. OBX-8 `PH~SP~L`). */
export function repeated(...values: readonly string[]): Hl7Field {
  return new Hl7Field(values.map((v) => [escapeHl7(v)]));
}

export function hd(v: Hd | undefined): Hl7Field {
  if (v === undefined) return field('');
  if (typeof v === 'string') return field(v);
  return field(v.namespaceId, v.universalId, v.universalIdType);
}

/** A segment from its fields by number (1-based; gaps stay empty). */
export function segment(name: string, fields: Readonly<Record<number, Hl7Field>>): Hl7Segment {
  const last = Math.max(0, ...Object.keys(fields).map(Number));
  const list: Hl7Field[] = [new Hl7Field([[name]])];
  for (let i = 1; i <= last; i++) list.push(fields[i] ?? field(''));
  return new Hl7Segment(list);
}

/** An MDC term as a CWE: `<num>^<refid>^MDC`. */
export function term(t: MdcTerm): Hl7Field {
  return field(t.num, t.refid, MDC_SYSTEM);
}

/** An EI: id ^^ namespace (the log origin) ^ L(ocal). */
export function ei(id: string, origin: string): Hl7Field {
  return field(id, '', origin, 'L');
}

/** MSH: commit acknowledgement only (MSH-15 AL, MSH-16 NE), UTF-8, the profile in MSH-21. */
export function msh(o: HeaderOptions, kind: MessageKind, controlId: string): Hl7Segment {
  return new Hl7Segment([
    new Hl7Field([['MSH']]),
    new Hl7Field([['^~\\&']]), // MSH-2 (MSH-1 is the `|` after the name)
    hd(o.sendingApp), // MSH-3
    hd(o.sendingFacility),
    hd(o.receivingApp),
    hd(o.receivingFacility), // MSH-6
    field(hl7Time(o.now.getTime())), // MSH-7
    field(''), // MSH-8 security
    field(...kind.type), // MSH-9
    field(controlId), // MSH-10
    field(o.processingId ?? 'P'), // MSH-11
    field('2.6'), // MSH-12
    field(''), // MSH-13
    field(''), // MSH-14
    field('AL'), // MSH-15 accept acknowledgement: always
    field('NE'), // MSH-16 application acknowledgement: never
    field(''), // MSH-17
    field('UNICODE UTF-8'), // MSH-18
    field(''), // MSH-19
    field(''), // MSH-20
    field(...kind.profile), // MSH-21
  ]);
}

/**
 * PID and PV1 of a device's patient. Bound: `PID-3 <patientId>^^^<authority>^PI`, PID-5
 * `^^^^^^U` (name unknown to the gateway), PV1-2 `I`, PV1-3 `^^<bed>`. Unbound: `PID|1` and
 * `PV1|1|U`, so the receiver cannot file the message to a patient by any other field.
 */
export function patientSegments(
  binding: { bed: string; patientId: string } | undefined,
  o: Pick<HeaderOptions, 'patientIdAuthority'>,
): [Hl7Segment, Hl7Segment] {
  const a = o.patientIdAuthority;
  const authority =
    a === undefined
      ? ''
      : typeof a === 'string'
        ? escapeHl7(a)
        : [a.namespaceId, a.universalId, a.universalIdType].map((c) => escapeHl7(c ?? '')).join('&'); // HD inside CX-4: subcomponents
  const pid = segment(
    'PID',
    binding
      ? {
          1: field(1),
          3: new Hl7Field([[escapeHl7(binding.patientId), '', '', authority, 'PI']]),
          5: field('', '', '', '', '', '', 'U'),
        }
      : { 1: field(1) },
  );
  const pv1 = segment(
    'PV1',
    binding ? { 1: field(1), 2: field('I'), 3: field('', '', binding.bed) } : { 1: field(1), 2: field('U') },
  );
  return [pid, pv1];
}
