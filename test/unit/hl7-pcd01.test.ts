/**
 * IHE PCD-01 builder (issue 19, core/hl7/pcd01): ER7 escaping of text fields (bed, patient
 * id, origin, MSH-3..6), the scaling of temperature (0.01 °C → °C, exact), the MDC/LOINC/UCUM
 * table, time formats, the stable control id and the unbound-device convention. The output is
 * read back with @medplum/core's `Hl7Message.parse` and, independently, split by hand.
 */
import { Hl7Message } from '@medplum/core';
import { describe, expect, test } from 'vitest';
import { FHIR_VITALS } from '../../gateway/src/core/fhir/codes.js';
import { MDC_VITALS, scaledValue } from '../../gateway/src/core/hl7/mdc.js';
import {
  buildPcd01,
  buildPcd01GroupMessage,
  escapeHl7,
  hl7Time,
  type Pcd01Options,
  proofNote,
} from '../../gateway/src/core/hl7/pcd01.js';
import type { OutboundReading } from '../../gateway/src/io/interfaces/receiver.js';
import { parseWithPythonHl7 } from '../helpers/hl7-py.js';

const TS = Date.UTC(2026, 10, 21, 8, 0, 0, 5);
const OPTS: Pcd01Options = {
  sendingApp: 'VITALTRAIL',
  sendingFacility: 'WARD3',
  receivingApp: 'EHR',
  receivingFacility: 'HOSP',
  now: new Date(Date.UTC(2026, 10, 21, 8, 0, 1)),
};

function reading(over: Partial<OutboundReading> = {}): OutboundReading {
  return {
    id: 'wr-0001:42',
    dev: 'wr-0001',
    seq: 42,
    ts: TS,
    acceptedAt: TS + 200,
    obs: { hr: 72, spo2: 97, rr: 16, temp: 3712, sbp: 120, dbp: 80 },
    leafIndex: 41,
    origin: 'vitaltrail/gw-1',
    ...over,
  };
}

/** Segments split by hand, fields split on `|` (no escapes are interpreted). */
function segmentsOf(er7: string): string[][] {
  return er7.split('\r').map((s) => s.split('|'));
}

/** HL7 ER7 unescaping of the five delimiters (the inverse the receiver applies). */
function unescapeHl7(s: string): string {
  return s.replace(
    /\\([EFSTR])\\/g,
    (_m, c: string) => ({ E: '\\', F: '|', S: '^', T: '&', R: '~' })[c] as string,
  );
}

describe('PCD-01 builder', () => {
  test('behavior: escapeHl7 escapes | ^ ~ \\ & and line breaks, and nothing else', () => {
    expect(escapeHl7('a|b^c~d\\e&f')).toBe('a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f');
    expect(escapeHl7('x\ry\nz')).toBe('x\\X0D\\y\\X0A\\z');
    expect(escapeHl7('W3-12 bed/2 :.')).toBe('W3-12 bed/2 :.');
    expect(unescapeHl7(escapeHl7('|^~\\&'))).toBe('|^~\\&');
  });

  test('error: delimiters in bed, patient id, origin and MSH-3 cannot split fields or components', () => {
    const evil = 'A|B^C~D\\E&F';
    const escaped = 'A\\F\\B\\S\\C\\R\\D\\E\\E\\T\\F';
    const er7 = buildPcd01(reading({ binding: { bed: evil, patientId: evil }, origin: `o/${evil}` }), {
      ...OPTS,
      sendingApp: evil,
      patientIdAuthority: evil,
    });
    const segs = segmentsOf(er7);
    // Same number of fields as the clean message, segment by segment.
    const clean = segmentsOf(buildPcd01(reading({ binding: { bed: 'B', patientId: 'P' } }), OPTS));
    expect(segs.map((s) => s.length)).toEqual(clean.map((s) => s.length));
    const msh = segs[0] as string[];
    expect(msh[2]).toBe(escaped);
    const pid = segs.find((s) => s[0] === 'PID') as string[];
    expect(pid[3]).toBe(`${escaped}^^^${escaped}^PI`);
    const pv1 = segs.find((s) => s[0] === 'PV1') as string[];
    expect(pv1[3]).toBe(`^^${escaped}`);
    // An independent parser sees the same components, and unescaping restores the text.
    const parsed = Hl7Message.parse(er7);
    expect(unescapeHl7(parsed.getSegment('PID')?.getComponent(3, 1) ?? '')).toBe(evil);
    expect(unescapeHl7(parsed.getSegment('PID')?.getComponent(3, 5) ?? '')).toBe('PI');
    expect(unescapeHl7(parsed.getSegment('PV1')?.getComponent(3, 3) ?? '')).toBe(evil);
    expect(unescapeHl7(parsed.getSegment('MSH')?.getComponent(3, 1) ?? '')).toBe(evil);
    const withDevice = parsed.getAllSegments('OBX').filter((s) => s.getField(18) !== undefined);
    expect(withDevice).toHaveLength(7); // the MDS and six metrics
    for (const obx of withDevice) {
      expect(unescapeHl7(obx.getComponent(18, 3))).toBe(`o/${evil}`);
      expect(obx.getComponent(18, 4)).toBe('L');
    }
    expect(unescapeHl7(parsed.getSegment('NTE')?.getField(3).toString() ?? '')).toBe(
      `vitaltrail-log origin=o/${evil} leaf=41`,
    );
  });

  test('behavior: temperature 0.01 °C → °C exactly, the other observations unscaled', () => {
    expect(scaledValue(3712, 2)).toBe('37.12');
    expect(scaledValue(3700, 2)).toBe('37.00');
    expect(scaledValue(3705, 2)).toBe('37.05');
    expect(scaledValue(5, 2)).toBe('0.05');
    expect(scaledValue(0, 2)).toBe('0.00');
    expect(scaledValue(72, 0)).toBe('72');
    for (const [raw, text] of [
      [3712, '37.12'],
      [3599, '35.99'],
      [4010, '40.10'],
    ] as const) {
      const obx = Hl7Message.parse(buildPcd01(reading({ obs: { temp: raw } }), OPTS))
        .getAllSegments('OBX')
        .find((s) => s.getComponent(3, 1) === '150344');
      expect(obx?.getField(5).toString()).toBe(text);
      expect(obx?.getField(6).toString()).toBe('268192^MDC_DIM_DEGC^MDC^Cel^Cel^UCUM');
    }
  });

  test('behavior: every observation key has its MDC metric, MDC unit, UCUM and the LOINC of FHIR_VITALS', () => {
    const expected = {
      hr: ['147842^MDC_ECG_HEART_RATE', '264864^MDC_DIM_BEAT_PER_MIN', '/min', '1.1.1.1'],
      spo2: ['150456^MDC_PULS_OXIM_SAT_O2', '262688^MDC_DIM_PERCENT', '%', '1.2.1.1'],
      rr: ['151562^MDC_RESP_RATE', '264928^MDC_DIM_RESP_PER_MIN', '/min', '1.3.1.1'],
      temp: ['150344^MDC_TEMP', '268192^MDC_DIM_DEGC', 'Cel', '1.4.1.1'],
      sbp: ['150021^MDC_PRESS_BLD_NONINV_SYS', '266016^MDC_DIM_MMHG', 'mm[Hg]', '1.5.1.1'],
      dbp: ['150022^MDC_PRESS_BLD_NONINV_DIA', '266016^MDC_DIM_MMHG', 'mm[Hg]', '1.5.1.2'],
    } as const;
    for (const [key, [metric, unit, ucum, subId]] of Object.entries(expected)) {
      const v = MDC_VITALS[key as keyof typeof expected];
      expect(`${v.metric.num}^${v.metric.refid}`).toBe(metric);
      expect(`${v.unit.num}^${v.unit.refid}`).toBe(unit);
      expect(v.ucum).toBe(ucum);
      expect(v.loinc).toBe(FHIR_VITALS[key as keyof typeof expected].loinc);
      expect(`1.${v.vmd.index}.1.${v.metricIndex}`).toBe(subId);
    }
  });

  test('behavior: the raw ER7 of a bound, anchored reading, segment by segment', () => {
    const er7 = buildPcd01(
      reading({
        binding: { bed: 'W3-12', patientId: 'MRN-0042' },
        anchored: {
          treeSize: 128,
          rootHash: 'ab'.repeat(32),
          txHash: `0x${'cd'.repeat(32)}`,
          blockNumber: 1234,
        },
      }),
      { ...OPTS, patientIdAuthority: 'HOSP' },
    );
    const t = '20261121080000.005+0000';
    const dev = 'wr-0001^^vitaltrail/gw-1^L';
    expect(er7.split('\r')).toEqual([
      'MSH|^~\\&|VITALTRAIL|WARD3|EHR|HOSP|20261121080001.000+0000||ORU^R01^ORU_R01|wr-0001:42|P|2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO',
      'PID|1||MRN-0042^^^HOSP^PI||^^^^^^U',
      'PV1|1|I|^^W3-12',
      `OBR|1||wr-0001:42^^vitaltrail/gw-1^L|182777000^monitoring of patient^SCT|||${t}`,
      `NTE|1|O|vitaltrail-log origin=vitaltrail/gw-1 leaf=41 tree_size=128 root=${'ab'.repeat(32)} tx=0x${'cd'.repeat(32)} block=1234|VTLOG^VitalTrail transparency-log reference^99VTL`,
      `OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||${dev}`,
      'OBX|2||69798^MDC_DEV_ECG_VMD^MDC|1.1.0.0|||||||X',
      'OBX|3||69799^MDC_DEV_ECG_CHAN^MDC|1.1.1.0|||||||X',
      `OBX|4|NM|147842^MDC_ECG_HEART_RATE^MDC^8867-4^Heart rate^LN|1.1.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC^/min^/min^UCUM|||||R|||${t}||||${dev}`,
      'OBX|5||69642^MDC_DEV_ANALY_SAT_O2_VMD^MDC|1.2.0.0|||||||X',
      'OBX|6||69643^MDC_DEV_ANALY_SAT_O2_CHAN^MDC|1.2.1.0|||||||X',
      `OBX|7|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC^59408-5^Oxygen saturation in Arterial blood by Pulse oximetry^LN|1.2.1.1|97|262688^MDC_DIM_PERCENT^MDC^%^%^UCUM|||||R|||${t}||||${dev}`,
      'OBX|8||69722^MDC_DEV_ANALY_RESP_RATE_VMD^MDC|1.3.0.0|||||||X',
      'OBX|9||69723^MDC_DEV_ANALY_RESP_RATE_CHAN^MDC|1.3.1.0|||||||X',
      `OBX|10|NM|151562^MDC_RESP_RATE^MDC^9279-1^Respiratory rate^LN|1.3.1.1|16|264928^MDC_DIM_RESP_PER_MIN^MDC^/min^/min^UCUM|||||R|||${t}||||${dev}`,
      'OBX|11||69902^MDC_DEV_METER_TEMP_VMD^MDC|1.4.0.0|||||||X',
      'OBX|12||69903^MDC_DEV_METER_TEMP_CHAN^MDC|1.4.1.0|||||||X',
      `OBX|13|NM|150344^MDC_TEMP^MDC^8310-5^Body temperature^LN|1.4.1.1|37.12|268192^MDC_DIM_DEGC^MDC^Cel^Cel^UCUM|||||R|||${t}||||${dev}`,
      'OBX|14||70686^MDC_DEV_PRESS_BLD_NONINV_VMD^MDC|1.5.0.0|||||||X',
      'OBX|15||70687^MDC_DEV_PRESS_BLD_NONINV_CHAN^MDC|1.5.1.0|||||||X',
      `OBX|16|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC^8480-6^Systolic blood pressure^LN|1.5.1.1|120|266016^MDC_DIM_MMHG^MDC^mm[Hg]^mm[Hg]^UCUM|||||R|||${t}||||${dev}`,
      `OBX|17|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC^8462-4^Diastolic blood pressure^LN|1.5.1.2|80|266016^MDC_DIM_MMHG^MDC^mm[Hg]^mm[Hg]^UCUM|||||R|||${t}||||${dev}`,
    ]);
  });

  test('behavior: an unbound reading has empty PID-3/PID-5, PV1-2 U, no bed, and a leaf-only note', () => {
    const segs = buildPcd01(reading({ obs: { spo2: 95 } }), OPTS).split('\r');
    expect(segs[1]).toBe('PID|1');
    expect(segs[2]).toBe('PV1|1|U');
    expect(segs[4]).toBe(
      'NTE|1|O|vitaltrail-log origin=vitaltrail/gw-1 leaf=41|VTLOG^VitalTrail transparency-log reference^99VTL',
    );
    // Only the SpO2 VMD is reported.
    expect(segs.filter((s) => s.startsWith('OBX')).map((s) => s.split('|')[4])).toEqual([
      '1.0.0.0',
      '1.2.0.0',
      '1.2.1.0',
      '1.2.1.1',
    ]);
  });

  test('behavior: MSH-10 is the reading id (stable across resends); MSH-7 is now, OBR-7/OBX-14 the device ts', () => {
    const a = Hl7Message.parse(buildPcd01(reading(), OPTS));
    const b = Hl7Message.parse(
      buildPcd01(reading(), { ...OPTS, now: new Date(OPTS.now.getTime() + 60_000) }),
    );
    expect(a.getSegment('MSH')?.getField(10).toString()).toBe('wr-0001:42');
    expect(b.getSegment('MSH')?.getField(10).toString()).toBe('wr-0001:42');
    expect(b.getSegment('MSH')?.getField(7).toString()).toBe('20261121080101.000+0000');
    expect(hl7Time(TS)).toBe('20261121080000.005+0000');
    expect(a.getSegment('OBR')?.getField(7).toString()).toBe(hl7Time(TS));
    for (const obx of a.getAllSegments('OBX').filter((s) => s.getField(2).toString() === 'NM')) {
      expect(obx.getField(14).toString()).toBe(hl7Time(TS));
      expect(obx.getField(11).toString()).toBe('R');
    }
  });

  test('behavior: the proof note names leaf, tree size, root, tx and block only when anchored', () => {
    expect(proofNote(reading())).toBe('vitaltrail-log origin=vitaltrail/gw-1 leaf=41');
    expect(
      proofNote(reading({ anchored: { treeSize: 9, rootHash: 'r', txHash: 't', blockNumber: 3 } })),
    ).toBe('vitaltrail-log origin=vitaltrail/gw-1 leaf=41 tree_size=9 root=r tx=t block=3');
  });

  test('behavior: an independent parser (python-hl7) reads every observation set, bound or not, hostile text included', () => {
    const keys = Object.keys(MDC_VITALS) as (keyof typeof MDC_VITALS)[];
    // Every non-empty subset of the observations, alternately bound (with delimiters in the
    // bed and patient id) and unbound.
    const readings = Array.from({ length: 2 ** keys.length - 1 }, (_, mask) => {
      const obs = Object.fromEntries(
        keys.filter((_k, i) => ((mask + 1) >> i) & 1).map((k, i) => [k, k === 'temp' ? 3650 + i : 60 + i]),
      );
      return reading({
        id: `wr-0001:${mask}`,
        seq: mask,
        obs,
        ...(mask % 2 ? { binding: { bed: `B|${mask}^x`, patientId: `P~${mask}` } } : {}),
      });
    });
    const messages = readings.map((r) => buildPcd01(r, OPTS));
    const obxKeys = Array.from({ length: 20 }, (_, i) => [
      `OBX${i + 1}.F3.R1.C1`,
      `OBX${i + 1}.F5`,
      `OBX${i + 1}.F6.R1.C4`,
    ]).flat();
    const parsed = parseWithPythonHl7(messages, [
      'MSH.F9.R1.C2',
      'MSH.F10',
      'PID.F3.R1.C1',
      'PV1.F3.R1.C3',
      ...obxKeys,
    ]);
    for (const [i, p] of parsed.entries()) {
      const r = readings[i]!;
      if ('error' in p) throw new Error(p.error);
      expect(p.values['MSH.F9.R1.C2']).toBe('R01');
      expect(p.values['MSH.F10']).toBe(r.id);
      expect(p.values['PID.F3.R1.C1'] ?? '').toBe(r.binding?.patientId ?? '');
      expect(p.values['PV1.F3.R1.C3'] ?? '').toBe(r.binding?.bed ?? '');
      // Each observation once, with its MDC metric, value and UCUM unit.
      const seen: Record<string, [string | null, string | null]> = {};
      for (let n = 1; n <= 20; n++) {
        const code = p.values[`OBX${n}.F3.R1.C1`];
        const metric = keys.find((k) => String(MDC_VITALS[k].metric.num) === code);
        if (metric) seen[metric] = [p.values[`OBX${n}.F5`] ?? null, p.values[`OBX${n}.F6.R1.C4`] ?? null];
      }
      expect(seen).toEqual(
        Object.fromEntries(
          Object.entries(r.obs).map(([k, v]) => [
            k,
            [
              scaledValue(v as number, MDC_VITALS[k as keyof typeof MDC_VITALS].decimals),
              MDC_VITALS[k as keyof typeof MDC_VITALS].ucum,
            ],
          ]),
        ),
      );
    }
  });

  test('behavior: a per-interval message has one MSH/PID/PV1 and one OBR group per reading, OBX numbered per group', () => {
    const b = { bed: 'B-2', patientId: 'MRN-7' };
    const rs = [
      reading({ binding: b }),
      reading({ id: 'wr-0001:43', seq: 43, leafIndex: 44, obs: { hr: 80 }, binding: b }),
    ];
    const segs = segmentsOf(buildPcd01GroupMessage(rs, 'wr-0001:42-43', OPTS).toString());
    const names = segs.map((f) => f[0]);
    expect(names.slice(0, 3)).toEqual(['MSH', 'PID', 'PV1']);
    expect(names.filter((n) => n === 'PID')).toHaveLength(1);
    expect(segs[0]![9]).toBe('wr-0001:42-43');
    const obr = segs.filter((f) => f[0] === 'OBR');
    expect(obr.map((f) => [f[1], f[3]])).toEqual([
      ['1', 'wr-0001:42^^vitaltrail/gw-1^L'],
      ['2', 'wr-0001:43^^vitaltrail/gw-1^L'],
    ]);
    // The second group: its NTE, then OBX 1 (MDS), 2 (ECG VMD), 3 (channel), 4 (hr 80).
    const second = segs.slice(names.lastIndexOf('OBR'));
    expect(second.map((f) => `${f[0]}${f[0] === 'OBX' ? f[1] : ''}`)).toEqual([
      'OBR',
      'NTE',
      'OBX1',
      'OBX2',
      'OBX3',
      'OBX4',
    ]);
    expect(second.at(-1)![5]).toBe('80');
    expect(second[1]![3]).toBe('vitaltrail-log origin=vitaltrail/gw-1 leaf=44');
    expect(() => buildPcd01GroupMessage([], 'x', OPTS)).toThrow(RangeError);
  });
});
