/**
 * FHIR R4 export (issue 4): readings from a real sealed store become a Bundle of
 * vital-signs Observations with Provenances. The structural checks below follow the R4
 * Observation resource and the vital-signs profile (http://hl7.org/fhir/R4/observation-vitalsigns.html):
 * required elements (status, category vital-signs, code, subject, effective[x], value or
 * component), LOINC codes of PROTOCOL.md §1, UCUM units, the BP panel 85354-9 with
 * components 8480-6/8462-4, the ISO/IEEE 11073-10101 (MDC) coding after each LOINC one, and
 * Provenance.target/recorded/agent (required in R4). Every resource is also validated
 * against the R4 StructureDefinitions and, for the Observations, the vital-signs profile
 * (@medplum/core `validateResource`, test/helpers/fhir-server `validateR4`). No network.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FHIR_VITALS, LOINC, MDC, UCUM } from '../../gateway/src/core/fhir/codes.js';
import { logIdOf } from '../../gateway/src/core/log-names.js';
import { exportFhir } from '../../gateway/src/io/outbound/fhir-export.js';
import { Bindings } from '../../gateway/src/io/store/bindings.js';
import { joined } from '../helpers/async-text.js';
import { validateR4 } from '../helpers/fhir-server.js';
import { recipientPair, type SealedRig, sealedRig } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';

type Json = Record<string, unknown>;
const T = Date.UTC(2026, 10, 21, 9, 0, 0);
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UCUM_OF: Record<string, string> = {
  '8867-4': '/min',
  '59408-5': '%',
  '9279-1': '/min',
  '8310-5': 'Cel',
  '8480-6': 'mm[Hg]',
  '8462-4': 'mm[Hg]',
};
/** LOINC → the MDC term of the same value (README "Codes: MDC, LOINC, UCUM"), written out. */
const MDC_OF: Record<string, [string, string]> = {
  '8867-4': ['147842', 'MDC_ECG_HEART_RATE'],
  '59408-5': ['150456', 'MDC_PULS_OXIM_SAT_O2'],
  '9279-1': ['151562', 'MDC_RESP_RATE'],
  '8310-5': ['150344', 'MDC_TEMP'],
  '8480-6': ['150021', 'MDC_PRESS_BLD_NONINV_SYS'],
  '8462-4': ['150022', 'MDC_PRESS_BLD_NONINV_DIA'],
};

/** R4 Observation (vital-signs profile) structural check; returns the problems found. */
function observationProblems(o: Json): string[] {
  const p: string[] = [];
  if (o.resourceType !== 'Observation') p.push('resourceType');
  if (!['registered', 'preliminary', 'final', 'amended'].includes(o.status as string)) p.push('status');
  const cat = o.category as { coding: { system: string; code: string }[] }[] | undefined;
  if (
    !cat?.some((c) =>
      c.coding.some(
        (x) =>
          x.system === 'http://terminology.hl7.org/CodeSystem/observation-category' &&
          x.code === 'vital-signs',
      ),
    )
  )
    p.push('category');
  type Coding = { system: string; code: string; display?: string };
  const code = (o.code as { coding?: Coding[] } | undefined)?.coding?.[0];
  if (code?.system !== LOINC) p.push('code.system');
  /** The second coding is the MDC term of the LOINC code in the first; nothing else follows. */
  const checkMdc = (codings: Coding[] | undefined, where: string) => {
    const [num, refid] = MDC_OF[codings?.[0]?.code as string] ?? [];
    const mdc = codings?.[1];
    if (codings?.length !== 2 || mdc?.system !== MDC || mdc.code !== num || mdc.display !== refid)
      p.push(`${where}.code MDC coding`);
  };
  const subject = o.subject as Json | undefined;
  if (!subject || !(subject.reference || subject.identifier || subject.display)) p.push('subject');
  if (typeof o.effectiveDateTime !== 'string' || !ISO_DATETIME.test(o.effectiveDateTime))
    p.push('effectiveDateTime');
  const checkQ = (q: Json | undefined, loinc: string, where: string) => {
    if (
      !q ||
      typeof q.value !== 'number' ||
      q.system !== UCUM ||
      q.code !== UCUM_OF[loinc] ||
      typeof q.unit !== 'string'
    )
      p.push(`${where}.valueQuantity`);
  };
  if (code?.code === '85354-9') {
    const comps = o.component as {
      code: { coding: { system: string; code: string }[] };
      valueQuantity: Json;
    }[];
    const codes = comps?.map((c) => c.code.coding[0]?.code).sort();
    if (JSON.stringify(codes) !== JSON.stringify(['8462-4', '8480-6'])) p.push('component codes');
    for (const c of comps ?? []) {
      checkQ(c.valueQuantity, c.code.coding[0]?.code as string, 'component');
      checkMdc(c.code.coding, 'component');
    }
    if ('valueQuantity' in o) p.push('panel has no value');
    if ((o.code as { coding: Coding[] }).coding.length !== 1) p.push('panel code is LOINC only');
  } else {
    if (!code || !(code.code in UCUM_OF)) p.push('code');
    checkQ(o.valueQuantity as Json, code?.code as string, 'observation');
    checkMdc((o.code as { coding?: Coding[] }).coding, 'observation');
  }
  return p;
}

describe('FHIR R4 export', () => {
  const tmp = makeTempDir('vt-fhir-');
  const r = recipientPair('care', 'rsa');
  const secrets = [{ kid: 'care', privateKey: r.privateKey }];
  let rig: SealedRig;
  let bindings: Bindings;
  const origin = 'vitaltrail/gw-1';

  beforeAll(async () => {
    rig = sealedRig(tmp.dir, [r.recipient], { now: () => T + 3_600_000 });
    bindings = new Bindings(rig.store, { recipients: [r.recipient], secrets });
    const a = rig.device('wr-a');
    const b = rig.device('wr-b');
    // wr-a carries patient P-1 for 3 readings, then P-2; P-1 moves to wr-b.
    await bindings.admit('wr-a', 'P-1', 'Bed 3', T);
    await bindings.admit('wr-a', 'P-2', 'Bed 4', T + 3000);
    await bindings.admit('wr-b', 'P-1', 'Bed 3', T + 3000);
    for (let i = 0; i < 6; i++) {
      await rig.ingest.submit(
        a.next({ ts: T + i * 1000 }, { hr: 80 + i, spo2: 97, rr: 14, temp: 3712, sbp: 120, dbp: 80 }),
        'wr-a',
      );
      await rig.ingest.submit(b.next({ ts: T + i * 1000 }, { hr: 60 + i }), 'wr-b');
    }
    // Anchor the first 8 leaves.
    rig.store.addCheckpoint(8, rig.store.root(8), T + 10_000);
    rig.store.markAnchored(8, '0x' + 'ab'.repeat(32), 42, T + 11_000);
  });

  afterAll(() => {
    rig?.store.close();
    tmp.cleanup();
  });

  test('behavior: a device export is a collection of valid vital-signs Observations with units, codes and provenance', async () => {
    const out = await exportFhir({
      store: rig.store,
      bindings,
      secrets,
      log: { origin, logId: logIdOf(origin) },
      deployment: { chainId: 31337, anchors: '0x00000000000000000000000000000000000000aa' },
      dev: 'wr-a',
      from: 0,
      to: Number.MAX_SAFE_INTEGER,
    });
    const bundle = JSON.parse(await joined(out.text())) as {
      resourceType: string;
      type: string;
      timestamp: string;
      entry: { fullUrl: string; resource: Json }[];
    };
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.type).toBe('collection');
    expect(bundle.timestamp).toMatch(ISO_DATETIME);
    const urls = bundle.entry.map((e) => e.fullUrl);
    expect(new Set(urls).size).toBe(urls.length);
    for (const u of urls)
      expect(u).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    const obs = bundle.entry.map((e) => e.resource).filter((x) => x.resourceType === 'Observation');
    const prov = bundle.entry.map((e) => e.resource).filter((x) => x.resourceType === 'Provenance');
    // 6 readings × (hr, spo2, rr, temp, BP panel)
    expect(obs).toHaveLength(30);
    expect(out.observations).toBe(30);
    // The CLI's indented text is the same Bundle, laid out as JSON.stringify lays it out.
    expect(await joined(out.text(2))).toBe(JSON.stringify(bundle, null, 2));
    for (const o of obs) expect(observationProblems(o)).toEqual([]);
    // R4 base definitions for every resource, and the vital-signs profile the Observations name.
    for (const e of bundle.entry) expect(() => validateR4(e.resource as never)).not.toThrow();
    // …and the profile is really applied: without its vital-signs category (optional in the base
    // resource, required by the profile) the same Observation is refused.
    expect(() => validateR4({ ...obs[0], category: [{ text: 'Vital Signs' }] } as never)).toThrow();
    const temp = obs.find(
      (o) => (o.code as { coding: { code: string }[] }).coding[0]?.code === FHIR_VITALS.temp.loinc,
    );
    expect(temp?.valueQuantity).toEqual({ value: 37.12, unit: 'C', system: UCUM, code: 'Cel' });
    const bp = obs.find(
      (o) => (o.code as { coding: { code: string }[] }).coding[0]?.code === '85354-9',
    ) as Json;
    expect((bp.component as { valueQuantity: Json }[]).map((c) => c.valueQuantity.value)).toEqual([120, 80]);
    expect(bp.effectiveDateTime).toBe(new Date(T).toISOString());

    // Readings carry the binding active at their time.
    const subjects = obs.map((o) => (o.subject as { identifier: { value: string } }).identifier.value);
    expect(subjects.filter((s) => s === 'P-1')).toHaveLength(15);
    expect(subjects.filter((s) => s === 'P-2')).toHaveLength(15);

    // One Provenance per Observation: device agent, log leaf, anchored checkpoint when covered.
    expect(prov).toHaveLength(30);
    const byTarget = new Map(prov.map((p) => [(p.target as { reference: string }[])[0]?.reference, p]));
    const deviceUrl = bundle.entry.find((e) => e.resource.resourceType === 'Device')?.fullUrl;
    for (const e of bundle.entry.filter((x) => x.resource.resourceType === 'Observation')) {
      const p = byTarget.get(e.fullUrl) as Json;
      expect(p).toBeDefined();
      expect(p.recorded).toMatch(ISO_DATETIME);
      expect((p.agent as { who: { reference: string } }[])[0]?.who.reference).toBe(deviceUrl);
      const entity = p.entity as { role: string; what: { identifier: { system: string; value: string } } }[];
      expect(entity[0]?.what.identifier.system).toBe(`urn:vitaltrail:log:${logIdOf(origin)}`);
      const leaf = Number(entity[0]?.what.identifier.value.split('/')[1]);
      if (leaf < 8) expect(entity[1]?.what.identifier.value).toMatch(/^8:0x[0-9a-f]{64}$/);
      else expect(entity).toHaveLength(1);
    }
    expect(out.pendingAnchor).toBe(2); // wr-a leaves 8 and 10
  });

  test('behavior: a patient export follows the patient across devices, within the binding periods', async () => {
    const out = await exportFhir({
      store: rig.store,
      bindings,
      secrets,
      log: { origin, logId: logIdOf(origin) },
      patientId: 'P-1',
      from: 0,
      to: Number.MAX_SAFE_INTEGER,
    });
    const obs = (JSON.parse(await joined(out.text())).entry as { resource: Json }[])
      .map((e) => e.resource)
      .filter((x) => x.resourceType === 'Observation');
    const hr = obs
      .filter((o) => (o.code as { coding: { code: string }[] }).coding[0]?.code === '8867-4')
      .map((o) => (o.valueQuantity as { value: number }).value)
      .sort((x, y) => x - y);
    expect(hr).toEqual([63, 64, 65, 80, 81, 82]); // wr-a before T+3s, wr-b from T+3s
  });

  test('behavior: a long export is read a day at a time; read again for its text past the readings kept, the same text', async () => {
    const c = rig.device('wr-c');
    const DAY = 86_400_000;
    // Two readings on each of three days, the last day's ts running backwards once.
    const at = [T - 2 * DAY, T - 2 * DAY + 5000, T - DAY, T - DAY + 5000, T + 9000, T + 7000];
    for (const [i, ts] of at.entries()) await rig.ingest.submit(c.next({ ts }, { hr: 100 + i }), 'wr-c');
    const exported = (keptReadings?: number) =>
      exportFhir({
        store: rig.store,
        bindings,
        secrets,
        log: { origin, logId: logIdOf(origin) },
        dev: 'wr-c',
        from: 0,
        to: Number.MAX_SAFE_INTEGER,
        ...(keptReadings !== undefined ? { keptReadings } : {}),
      });
    // The index reads the store answers (the real method, its calls recorded).
    const reads: [number, number][] = [];
    const framesToRead = rig.store.framesToRead.bind(rig.store);
    rig.store.framesToRead = (dev, from, to, packFrom) => {
      if (dev === 'wr-c') reads.push([from, to]);
      return framesToRead(dev, from, to, packFrom);
    };
    const kept = await exported();
    expect(reads.length).toBeGreaterThanOrEqual(3); // a day at a time, never the whole range
    for (const [from, to] of reads) expect(to - from).toBeLessThan(DAY);
    reads.length = 0;
    const text = await joined(kept.text(2));
    expect(reads).toEqual([]); // 6 readings: kept from the counting pass
    const reread = await exported(2);
    reads.length = 0;
    expect(await joined(reread.text(2))).toBe(text);
    expect(reads.length).toBeGreaterThanOrEqual(3); // past the 2 kept: read again for the text
    expect(await joined(reread.text(2))).toBe(text); // each call reads anew
    rig.store.framesToRead = framesToRead;
    expect([reread.observations, reread.pendingAnchor]).toEqual([kept.observations, kept.pendingAnchor]);
    const bundle = JSON.parse(text) as { timestamp: string; entry: { resource: Json }[] };
    expect(bundle.timestamp).toBe(new Date(T + 9000).toISOString()); // the newest reading
    const hr = bundle.entry
      .map((e) => e.resource)
      .filter((x) => x.resourceType === 'Observation')
      .map((o) => (o.valueQuantity as { value: number }).value);
    expect(hr).toEqual([100, 101, 102, 103, 104, 105]); // day by day, by seq within a day
    expect(kept.observations).toBe(6);
  });

  test('error: neither or both selectors, or an unknown patient, are refused', async () => {
    const base = {
      store: rig.store,
      bindings,
      secrets,
      log: { origin, logId: logIdOf(origin) },
      from: 0,
      to: 1,
    };
    await expect(exportFhir(base)).rejects.toMatchObject({ code: 'bad_request' });
    await expect(exportFhir({ ...base, patientId: 'NOBODY' })).rejects.toMatchObject({ code: 'not_found' });
  });
});
