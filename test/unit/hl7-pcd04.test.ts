/**
 * @module test/unit/hl7-pcd04
 * Issue 19, alarms to an alarm manager: the IHE PCD-04 `ORU^R40` builder (core/hl7/pcd04)
 * and the PCD-05 `ORU^R41` reader (core/hl7/pcd05). Every built message is read back two
 * ways: split by hand on the ER7 delimiters (no library), and with @medplum/core's parser.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hl7Message } from '@medplum/core';
import { describe, expect, test } from 'vitest';
import type { HeaderOptions } from '../../gateway/src/core/hl7/er7.js';
import { alertCoding, buildPcd04Message, type Pcd04Alarm } from '../../gateway/src/core/hl7/pcd04.js';
import { readPcd05 } from '../../gateway/src/core/hl7/pcd05.js';
import { parseWithPythonHl7 } from '../helpers/hl7-py.js';

const AT = Date.UTC(2026, 11, 2, 9, 30, 0, 250);
const ALARM_ID = '0b5c1e2a-7d0f-4c1e-9a55-0f6f2b1d9c11';
const ORIGIN = 'vitaltrail/ward-3';
const HEADER: HeaderOptions = {
  sendingApp: 'VITALTRAIL',
  sendingFacility: 'ward-3',
  receivingApp: 'AM',
  receivingFacility: 'HOSP',
  now: new Date(AT + 40),
};

function alarm(over: Partial<Pcd04Alarm> = {}): Pcd04Alarm {
  return {
    id: 'alarm-event:17',
    eventId: 17,
    alarmId: ALARM_ID,
    dev: 'wr-0003',
    code: 'spo2_low',
    kind: 'physiological',
    event: 'raised',
    priority: 'high',
    at: AT,
    by: null,
    binding: { bed: 'B-07', patientId: 'MRN-000123' },
    ...over,
  };
}

/** Segments → fields, by hand: `\r` between segments, `|` between fields. */
function split(er7: string): string[][] {
  return er7
    .split('\r')
    .filter(Boolean)
    .map((s) => s.split('|'));
}

/** The OBX whose OBX-3 first component is `code`. */
const obxOf = (segs: string[][], code: number) =>
  segs.find((f) => f[0] === 'OBX' && f[3]?.split('^')[0] === String(code));

describe('PCD-04 ORU^R40', () => {
  test('behavior: a raised SpO2-low alarm, field by field', () => {
    const er7 = buildPcd04Message(alarm(), ORIGIN, HEADER).toString();
    const segs = split(er7);
    expect(segs.map((f) => f[0])).toEqual([
      'MSH',
      'PID',
      'PV1',
      'OBR',
      'OBX',
      'OBX',
      'OBX',
      'OBX',
      'OBX',
      'OBX',
      'OBX',
    ]);
    const msh = segs[0]!;
    // MSH-n is at index n-1 when split by hand (MSH-1 is the separator itself).
    expect(msh[8]).toBe('ORU^R40^ORU_R40');
    expect(msh[9]).toBe('alarm-event:17');
    expect(msh[10]).toBe('P');
    expect(msh[11]).toBe('2.6');
    expect([msh[14], msh[15]]).toEqual(['AL', 'NE']);
    expect(msh[20]).toBe('IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4.1^ISO');
    expect(segs[1]![3]).toBe('MRN-000123^^^^PI');
    expect(segs[2]![2]).toBe('I');
    expect(segs[2]![3]).toBe('^^B-07');
    const obr = segs[3]!;
    expect(obr[2]).toBe(`${ALARM_ID}^^${ORIGIN}^L`);
    expect(obr[3]).toBe(`${ALARM_ID}^^${ORIGIN}^L`);
    expect(obr[4]).toBe('196616^MDC_EVT_ALARM^MDC');
    expect(obr[7]).toBe('20261202093000.250+0000');

    const evt = obxOf(segs, 196616)!;
    expect(evt[2]).toBe('CWE');
    expect(evt[4]).toBe('1.2.1.150456.1');
    expect(evt[5]).toBe('196670^MDC_EVT_LO^MDC^^^^^^SpO2 low');
    expect(evt[8]).toBe('PH~SP~L');
    expect(evt[14]).toBe('20261202093000.250+0000');
    expect(evt[18]).toBe(`wr-0003^^${ORIGIN}^L`);
    expect(obxOf(segs, 68480)![5]).toBe('150456^MDC_PULS_OXIM_SAT_O2^MDC');
    expect(obxOf(segs, 68481)![5]).toBe('start');
    expect(obxOf(segs, 68482)![5]).toBe('active');
    expect(obxOf(segs, 68483)![5]).toBe('enabled');
    expect(obxOf(segs, 68484)![5]).toBe('PH');
    expect(obxOf(segs, 68485)![5]).toBe('SP');
    // OBX-1 numbers 1..7 and the facet sub-ids .1..7 of one source.
    const obx = segs.filter((f) => f[0] === 'OBX');
    expect(obx.map((f) => f[1])).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    expect(obx.map((f) => f[4])).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => `1.2.1.150456.${n}`));
    // No vital value anywhere (no plaintext vitals at rest, and none replayed from it).
    expect(obx.every((f) => f[2] !== 'NM')).toBe(true);

    // The same fields through an independent parser.
    const parsed = Hl7Message.parse(er7);
    expect(parsed.getSegment('MSH')?.getComponent(9, 2)).toBe('R40');
    expect(parsed.getSegment('OBR')?.getComponent(3, 1)).toBe(ALARM_ID);
    expect(parsed.getAllSegments('OBX')).toHaveLength(7);
  });

  test('behavior: each transition has its phase, state and inactivation state', () => {
    const facets = (over: Partial<Pcd04Alarm>) => {
      const segs = split(buildPcd04Message(alarm(over), ORIGIN, HEADER).toString());
      return [68481, 68482, 68483].map((c) => obxOf(segs, c)![5]);
    };
    expect(facets({ event: 'raised' })).toEqual(['start', 'active', 'enabled']);
    expect(facets({ event: 'escalated' })).toEqual(['escalate', 'active', 'enabled']);
    expect(facets({ event: 'renotified' })).toEqual(['continue', 'active', 'enabled']);
    expect(facets({ event: 'latched' })).toEqual(['update', 'latched', 'enabled']);
    expect(facets({ event: 'acknowledged', by: 'nurse.kim' })).toEqual([
      'update',
      'active',
      'alert-acknowledged',
    ]);
    expect(facets({ event: 'cleared' })).toEqual(['end', 'inactive', 'enabled']);
    const ack = split(
      buildPcd04Message(alarm({ event: 'acknowledged', by: 'nurse.kim' }), ORIGIN, HEADER).toString(),
    );
    expect(obxOf(ack, 68483)![16]).toBe('nurse.kim');
    // An escalated alarm carries its new priority.
    const esc = split(
      buildPcd04Message(
        alarm({ event: 'escalated', priority: 'high', code: 'hr_high' }),
        ORIGIN,
        HEADER,
      ).toString(),
    );
    expect(obxOf(esc, 196616)![8]).toBe('PH~SP~H');
    expect(obxOf(esc, 196616)![5]).toBe('196648^MDC_EVT_HI^MDC^^^^^^Heart rate high');
  });

  test('behavior: technical and gateway alarms use local codes on the device MDS; unbound patients stay anonymous', () => {
    const segs = split(
      buildPcd04Message(
        alarm({ code: 'device_offline', kind: 'technical', priority: 'medium', binding: undefined }),
        ORIGIN,
        HEADER,
      ).toString(),
    );
    const evt = obxOf(segs, 196616)!;
    expect(evt[4]).toBe('1.0.0.0.1');
    expect(evt[5]).toBe('device_offline^device_offline^99VTL^^^^^^Device offline');
    expect(evt[8]).toBe('PM~ST');
    expect(obxOf(segs, 68480)![5]).toBe('69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC');
    expect(obxOf(segs, 68485)![5]).toBe('ST');
    expect(segs[1]).toEqual(['PID', '1']);
    expect(segs[2]).toEqual(['PV1', '1', 'U']);
    expect(alertCoding('signal_loss_spo2')).toMatchObject({
      subId: '1.2.1.150456',
      text: 'Signal loss: SpO2',
    });
  });

  test('behavior: hostile text (bed, patient id, user) is escaped and reads back intact', () => {
    const evil = 'B|7^x&y~z\\w\rq';
    const msg = buildPcd04Message(
      alarm({ event: 'acknowledged', by: 'nurse.kim', binding: { bed: evil, patientId: 'P^1' } }),
      ORIGIN,
      HEADER,
    ).toString();
    expect(msg.split('\r').filter(Boolean)).toHaveLength(11); // no segment injected
    const parsed = Hl7Message.parse(msg);
    expect(parsed.getSegment('PV1')?.getComponent(3, 3)).toBe('B\\F\\7\\S\\x\\T\\y\\R\\z\\E\\w\\X0D\\q');
    expect(parsed.getSegment('PID')?.getComponent(3, 1)).toBe('P\\S\\1');
  });
});

describe('PCD-04 read by an independent parser', () => {
  test('behavior: python-hl7 reads every transition of every kind of alarm, bound or not, with the facets built', () => {
    const codes = ['spo2_low', 'hr_high', 'signal_loss_temp', 'device_offline', 'news2', 'storage_failing'];
    const events = ['raised', 'escalated', 'renotified', 'latched', 'reactivated', 'acknowledged', 'cleared'];
    const alarms = codes.flatMap((code, i) =>
      events.map((event, j) =>
        alarm({
          id: `alarm-event:${i * 10 + j}`,
          code,
          event,
          kind:
            code.startsWith('signal') || code.endsWith('offline') || code.startsWith('storage')
              ? 'technical'
              : 'physiological',
          priority: (['low', 'medium', 'high'] as const)[(i + j) % 3],
          by: event === 'acknowledged' ? 'nurse.kim' : null,
          ...(j % 2 ? { binding: undefined } : { binding: { bed: `B|${j}`, patientId: `MRN^${i}` } }),
        }),
      ),
    );
    const keys = [
      'MSH.F9.R1.C2',
      'MSH.F10',
      'MSH.F21.R1.C1',
      'PID.F3.R1.C1',
      'OBR.F3.R1.C1',
      'OBR.F4.R1.C1',
      'OBX1.F5.R1.C1',
      'OBX1.F8.R1',
      'OBX1.F8.R2',
      'OBX2.F5.R1.C1',
      'OBX3.F5',
      'OBX4.F5',
      'OBX5.F5',
      'OBX5.F16',
      'OBX6.F5',
      'OBX7.F5',
    ];
    const built = alarms.map((a) => buildPcd04Message(a, ORIGIN, HEADER));
    const parsed = parseWithPythonHl7(
      built.map((m) => m.toString()),
      keys,
    );
    for (const [i, p] of parsed.entries()) {
      const a = alarms[i]!;
      if ('error' in p) throw new Error(p.error);
      const c = alertCoding(a.code);
      const ours = Hl7Message.parse(built[i]!.toString());
      const facet = (code: number) =>
        ours
          .getAllSegments('OBX')
          .find((o) => o.getComponent(3, 1) === String(code))
          ?.getField(5)
          ?.toString();
      expect(p.segments).toEqual([
        'MSH',
        'PID',
        'PV1',
        'OBR',
        'OBX',
        'OBX',
        'OBX',
        'OBX',
        'OBX',
        'OBX',
        'OBX',
      ]);
      expect(p.values).toMatchObject({
        'MSH.F9.R1.C2': 'R40',
        'MSH.F10': a.id,
        'MSH.F21.R1.C1': 'IHE_PCD_ACM_001',
        'OBR.F3.R1.C1': ALARM_ID,
        'OBR.F4.R1.C1': '196616',
        'OBX1.F5.R1.C1': c.event.code,
        'OBX1.F8.R1': { high: 'PH', medium: 'PM', low: 'PL' }[a.priority],
        'OBX1.F8.R2': a.kind === 'technical' ? 'ST' : 'SP',
        'OBX2.F5.R1.C1': String(c.source.num),
        'OBX3.F5': facet(68481),
        'OBX4.F5': facet(68482),
        'OBX5.F5': facet(68483),
        'OBX6.F5': { high: 'PH', medium: 'PM', low: 'PL' }[a.priority],
        'OBX7.F5': a.kind === 'technical' ? 'ST' : 'SP',
      });
      expect(p.values['OBX5.F16'] ?? '').toBe(a.by ?? '');
      expect(p.values['PID.F3.R1.C1'] ?? '').toBe(a.binding ? `MRN^${Math.floor(i / events.length)}` : '');
    }
  });
});

/** A PCD-05 message as an alarm manager would write it (by hand). */
function pcd05(obx: string[], type = 'ORU^R41^ORU_R41', obr3 = `${ALARM_ID}^^${ORIGIN}^L`): Hl7Message {
  return Hl7Message.parse(
    [
      `MSH|^~\\&|AM|HOSP|VITALTRAIL|ward-3|20261202093010||${type}|am-881|P|2.6|||AL|NE||UNICODE UTF-8`,
      'PID|1',
      `OBR|1||${obr3}|196616^MDC_EVT_ALARM^MDC|||20261202093010`,
      ...obx,
    ].join('\r'),
  );
}

describe('PCD-05 ORU^R41', () => {
  test('behavior: "accepted by endpoint operator" with an operator is an acknowledgement in that name', () => {
    for (const status of [
      'Accepted by Endpoint Operator',
      'accepted_by_endpoint_operator',
      'ACCEPTED-BY-ENDPOINT-OPERATOR',
    ]) {
      expect(
        readPcd05(
          pcd05([`OBX|1|ST|68487^MDC_ATTR_ALERT_STATUS^MDC|1.0.0.0.1|${status}||||||F|||||nurse.kim`]),
        ),
      ).toEqual({
        kind: 'acknowledge',
        alarmId: ALARM_ID,
        user: 'nurse.kim',
        status: 'accepted-by-endpoint-operator',
      });
    }
  });

  test('behavior: other statuses change nothing; malformed messages are refused with AE or AR', () => {
    expect(readPcd05(pcd05(['OBX|1|ST|68487^X^MDC|1|Delivered to Endpoint||||||F']))).toEqual({
      kind: 'status',
      alarmId: ALARM_ID,
      status: 'Delivered to Endpoint',
    });
    expect(readPcd05(pcd05(['OBX|1|ST|68487^X^MDC|1|Accepted by Endpoint Operator||||||F']))).toMatchObject({
      kind: 'invalid',
      ack: 'AE',
    }); // no operator
    expect(
      readPcd05(pcd05(['OBX|1|ST|68487^X^MDC|1|Accepted by Endpoint Operator||||||F|||||nurse kim; drop'])),
    ).toMatchObject({ kind: 'invalid', ack: 'AE' });
    expect(readPcd05(pcd05(['OBX|1|ST|1|1|Delivered||||||F'], 'ORU^R01^ORU_R01'))).toMatchObject({
      kind: 'invalid',
      ack: 'AR',
    });
    expect(readPcd05(pcd05(['OBX|1|ST|1|1|Delivered||||||F'], undefined, 'not-an-alarm'))).toMatchObject({
      kind: 'invalid',
      ack: 'AE',
    });
    expect(readPcd05(pcd05([]))).toMatchObject({ kind: 'invalid', ack: 'AE' });
  });
});

describe('the README sample', () => {
  test('behavior: the README PCD-04 sample is exactly what the builder writes', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const at = readme.indexOf('A raised SpO2-low alarm (`gateway/src/core/hl7/pcd04.ts` builds it');
    const start = readme.indexOf('```\n', at) + 4;
    const sample = readme.slice(start, readme.indexOf('```', start)).trimEnd().split('\n');
    const built = buildPcd04Message(
      alarm({
        id: 'alarm-event:42',
        eventId: 42,
        alarmId: '6f1c2b7e-3d4a-4c55-9e0b-1a2b3c4d5e6f',
        at: Date.UTC(2026, 11, 2, 9, 30, 0, 101),
        binding: { bed: 'Bed 3', patientId: 'MRN-000123' },
      }),
      'vitaltrail/ward-3',
      {
        ...HEADER,
        receivingFacility: 'HOSPITAL',
        now: new Date(Date.UTC(2026, 11, 2, 9, 30, 0, 180)),
        patientIdAuthority: 'HOSP',
      },
    );
    expect(built.toString().split('\r')).toEqual(sample);
  });
});
