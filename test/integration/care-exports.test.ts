/**
 * @module test/integration/care-exports
 * A patient's ECG, FHIR export and disclosure bundle under consent (issue 18,
 * io/http/routes/care/care-export-routes), on a real anvil with the real consent contract, a
 * gateway started in this process anchoring its readings there, real EIP-712 signatures and
 * real HTTP (test/helpers/care-rig):
 * - one device, bound first to another patient (P-0099: two frames with ECG), then to P-0007
 *   (frames 3-5 vitals only, 6-8 with an ECG chunk, 9 vitals only), all anchored;
 * - Dr A under a vitals-only consent gets the FHIR export (a valid R4 Bundle, P-0007's
 *   readings only), but `consent_out_of_scope` for the ECG and for any bundle (its signed
 *   frames cannot be cut); Dr E under a vitals+ECG consent gets the ECG
 *   strips; an hour and more of ECG is `bad_request`;
 * - the patient downloads their own bundle: VALID by the verifier core against the chain;
 *   from their admission on, the other patient's boundary frame is left out (start open);
 * - every download is an attachment, and leaves an access-log entry with its action and basis
 *   (Dr E's bundle's range widened to the boundary frame it discloses).
 */
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clinicianIdOf, SCOPE_ECG, SCOPE_VITALS } from '../../anchor/src/consent/index.js';
import type { Hex } from '../../anchor/src/ledger/index.js';
import { decodeFrame } from '../../gateway/src/protocol/frame.js';
import { type CareRig, H, pseudonymIn, startCareRig } from '../helpers/care-rig.js';
import { validateR4 } from '../helpers/fhir-server.js';
import { deviceKey, FrameChain } from '../helpers/gateway.js';
import { call, errorCode } from '../helpers/http-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEV = 'wr-0001';
const PATIENT_ID = 'P-0007';
const OTHER_ID = 'P-0099';
const FS = 250;

type Json = Record<string, unknown>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A second of ECG: int16 LE samples, a recognisable ramp per frame. */
const ecg = (k: number) => {
  const s = new Uint8Array(FS * 2);
  const v = new DataView(s.buffer);
  for (let i = 0; i < FS; i++) v.setInt16(i * 2, k * 100 + i, true);
  return { kind: 'ecg' as const, fs: FS, s };
};

describe('care exports: ECG, FHIR and bundles under consent', () => {
  const tmp = makeTempDir('vt-care-exports-');
  let rig: CareRig;
  let pseudonym: Hex;
  let consentA: Hex;
  let consentE: Hex;
  const patientKey = privateKeyToAccount(generatePrivateKey());
  const drA = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  const drE = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  /** Device time of each frame by seq. */
  const ts: Record<number, number> = {};
  let admittedAt = 0;

  const url = (what: string, from: number, to: number, p: string = pseudonym) =>
    `/api/care/patients/${p}/${what}?from=${from}&to=${to}`;
  /** A download: status, headers and the body's JSON. */
  const download = async (who: string, u: string) => {
    const res = await fetch(`${rig.gw.http.url}${u}`, { headers: { cookie: rig.cookies[who] as string } });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: JSON.parse(text) as Json };
  };
  const seqsOf = (bundle: Json) =>
    (bundle.entries as { frame?: string; boundary?: string }[]).map((e) => [
      Number(decodeFrame(Buffer.from(e.frame as string, 'base64')).body.seq),
      e.boundary ?? '',
    ]);
  const verify = (bundle: Json) => rig.verify(bundle);

  beforeAll(async () => {
    // Shredding on (a year: nothing expires here), so a bundle download holds it while it reads.
    const o = { devices: [DEV], users: [], checkpointIntervalMs: 300, shredAfterMs: 365 * 86_400_000 };
    rig = await startCareRig(tmp.dir, o, (paths) => {
      pseudonym = pseudonymIn(paths, PATIENT_ID);
      return {
        users: [
          { username: 'dr-a', role: 'doctor', subject: drA },
          { username: 'dr-e', role: 'doctor', subject: drE },
          { username: 'pat', role: 'patient', subject: pseudonym },
          { username: 'cn', role: 'charge_nurse' },
        ],
        doctors: [drA, drE],
        patientKeys: [[pseudonym, patientKey.address]],
      };
    });
    await rig.login('dr-a', 'dr-e', 'pat', 'cn');
    const admit = async (patientId: string) => {
      const r = await call(rig.gw.http.url, 'POST', '/api/admissions', rig.cookies.cn, {
        dev: DEV,
        patientId,
        bed: 'Bed 7',
      });
      expect(r.status).toBe(201);
      return r.body.since as number;
    };
    const frames = new FrameChain(DEV, deviceKey(rig.paths, DEV));
    const send = async (wf: boolean, hr: number) => {
      await sleep(5);
      const t = Date.now();
      ts[frames.seq + 1] = t;
      const over = wf ? { ts: t, wf: ecg(frames.seq + 1) } : { ts: t };
      await rig.gw.ingest.submit(frames.next(over, { hr, spo2: 97 }), DEV);
      await sleep(5);
    };
    await admit(OTHER_ID);
    await send(true, 50);
    await send(true, 51);
    await sleep(5);
    const out = await call(rig.gw.http.url, 'POST', '/api/discharges', rig.cookies.cn, { dev: DEV });
    expect(out.status).toBe(200);
    await sleep(5);
    admittedAt = await admit(PATIENT_ID);
    for (const [wf, hr] of [
      [false, 70],
      [false, 71],
      [false, 72],
      [true, 73],
      [true, 74],
      [true, 75],
      [false, 76],
    ] as const)
      await send(wf, hr);
    await rig.anchored(9);
    consentA = await rig.grant(patientKey, { patient: pseudonym, doctor: drA, scope: SCOPE_VITALS });
    consentE = await rig.grant(patientKey, {
      patient: pseudonym,
      doctor: drE,
      scope: SCOPE_VITALS | SCOPE_ECG,
    });
    await rig.settle();
  }, 180_000);

  afterAll(async () => {
    await rig?.stop();
    tmp.cleanup();
  });

  it('behavior: a vitals-only consent serves FHIR (a valid R4 Bundle of this patient only) and refuses ECG', async () => {
    const f = await download('dr-a', url('fhir', admittedAt - 60_000, ts[9]!));
    expect(f.status).toBe(200);
    expect(f.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect(f.headers.get('content-disposition')).toMatch(
      /^attachment; filename="vitaltrail-fhir-[0-9a-f]{8}-\d+-\d+\.json"$/,
    );
    const bundle = f.body as { resourceType: string; type: string; entry: { resource: Json }[] };
    expect([bundle.resourceType, bundle.type]).toEqual(['Bundle', 'collection']);
    for (const e of bundle.entry) expect(() => validateR4(e.resource as never)).not.toThrow();
    const obs = bundle.entry.map((e) => e.resource).filter((r) => r.resourceType === 'Observation');
    const hr = obs
      .filter((o) => (o.code as { coding: { code: string }[] }).coding[0]?.code === '8867-4')
      .map((o) => (o.valueQuantity as { value: number }).value)
      .sort();
    expect(hr).toEqual([70, 71, 72, 73, 74, 75, 76]);
    const subjects = new Set(
      obs.map((o) => (o.subject as { identifier: { value: string } }).identifier.value),
    );
    expect([...subjects]).toEqual([PATIENT_ID]);
    expect(JSON.stringify(bundle)).not.toContain(OTHER_ID);

    const e = await rig.get('dr-a', url('ecg', admittedAt, ts[9]!));
    expect([e.status, errorCode(e)]).toEqual([403, 'consent_out_of_scope']);
    // The guard's rules hold on every export: another doctor has no consent, a patient no other's data.
    const none = await rig.get('cn', url('fhir', admittedAt, ts[9]!));
    expect(none.status).toBe(403);
    const other = await rig.get('pat', url('bundle', admittedAt, ts[9]!, `0x${'ab'.repeat(32)}`));
    expect([other.status, errorCode(other)]).toEqual([403, 'forbidden']);
    const bad = await rig.get('dr-a', `/api/care/patients/${pseudonym}/fhir?from=5&to=1`);
    expect([bad.status, errorCode(bad)]).toEqual([400, 'bad_request']);
  });

  it('behavior: a vitals+ECG consent serves the ECG strips of the patient only, at most an hour per request', async () => {
    const e = await rig.get('dr-e', url('ecg', admittedAt - 60_000, ts[9]!));
    expect(e.status).toBe(200);
    expect(e.body.basis).toEqual({ type: 'consent', consentId: consentE });
    const strips = e.body.strips as { dev: string; seq: number; ts: number; fs: number; s: string }[];
    expect(strips.map((s) => [s.dev, s.seq, s.ts, s.fs])).toEqual(
      [6, 7, 8].map((seq) => [DEV, seq, ts[seq], FS]),
    );
    const samples = Buffer.from(strips[0]!.s, 'base64');
    expect([samples.length, samples.readInt16LE(0), samples.readInt16LE(2 * (FS - 1))]).toEqual([
      2 * FS,
      600,
      600 + FS - 1,
    ]);
    const tooLong = await rig.get('dr-e', url('ecg', ts[9]! - H - 1, ts[9]!));
    expect([tooLong.status, errorCode(tooLong)]).toEqual([400, 'bad_request']);
    // The patient's own ECG, without any consent.
    const own = await rig.get('pat', url('ecg', admittedAt, ts[9]!));
    expect([own.status, (own.body.strips as unknown[]).length]).toEqual([200, 3]);
  });

  it("behavior: bundles: a vitals-only consent is refused (a signed frame cannot be cut); vitals+ECG served; the patient's VALID", async () => {
    const vitalsOnly = await rig.get('dr-a', url('bundle', admittedAt, ts[4]!));
    expect([vitalsOnly.status, errorCode(vitalsOnly)]).toEqual([403, 'consent_out_of_scope']);
    // Dr E, frames 3-4: the other patient's frame before is left out, the patient's own after kept.
    const e = await download('dr-e', url('bundle', admittedAt, ts[4]!));
    expect(e.status).toBe(200);
    expect(e.headers.get('content-type')).toMatch(/^application\/json/);
    expect(e.headers.get('content-disposition')).toMatch(/^attachment; filename="vitaltrail-bundle-/);
    expect(seqsOf(e.body)).toEqual([
      [3, ''],
      [4, ''],
      [5, 'after'],
    ]);
    const re = await verify(e.body);
    expect([re.integrity, re.summary.valid, re.verdict]).toEqual([true, 3, 'INCOMPLETE']);
    expect((await download('dr-e', url('bundle', ts[5]! + 1, ts[8]!))).status).toBe(200);

    // The patient, frames 4-8: both boundary frames are theirs, so the bundle is complete.
    // The download holds the gateway's shredding from its plan to its last entry sent.
    const hold = rig.gw.retention?.hold;
    if (!hold) throw new Error('the rig runs the shredding');
    const take = hold.take.bind(hold);
    const held: (number | null)[] = [];
    hold.take = () => {
      const release = take();
      held.push(hold.heldSince);
      return release;
    };
    const own = await download('pat', url('bundle', ts[4]!, ts[8]!));
    expect(own.status).toBe(200);
    expect(held).toHaveLength(1);
    expect(held[0]).not.toBeNull();
    const end = Date.now() + 2000;
    while (hold.heldSince !== null && Date.now() < end) await new Promise((res) => setTimeout(res, 10));
    expect(hold.heldSince, 'released once sent').toBeNull();
    expect(seqsOf(own.body)).toEqual([
      [3, 'before'],
      [4, ''],
      [5, ''],
      [6, ''],
      [7, ''],
      [8, ''],
      [9, 'after'],
    ]);
    const r = await verify(own.body);
    expect([r.verdict, r.summary.valid, r.summary.invalid]).toEqual(['VALID', 7, 0]);
    // From the admission on: the frame before is the other patient's, left out (start open).
    const all = await download('pat', url('bundle', admittedAt, ts[8]!));
    expect(seqsOf(all.body).map(([s]) => s)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    const rAll = await verify(all.body);
    expect([rAll.integrity, rAll.verdict]).toEqual([true, 'INCOMPLETE']);
  });

  it('behavior: each download and strip read is in the access log with its action, basis and range', async () => {
    const entries = (
      rig.gw.store.db.prepare('SELECT entry FROM access_entries ORDER BY idx').pluck().all() as Buffer[]
    )
      .map((b) => JSON.parse(Buffer.from(b).toString('utf8')) as Json)
      .filter((e) => e.role === 'doctor' || e.role === 'patient');
    const row = (e: Json) => [e.actor, e.action, (e.basis as { consentId?: string }).consentId ?? 'self'];
    expect(entries.map(row)).toEqual([
      [drA, 'fhir_export', consentA],
      [drE, 'ecg', consentE],
      ['pat', 'ecg', 'self'],
      [drE, 'bundle_export', consentE],
      [drE, 'bundle_export', consentE],
      ['pat', 'bundle_export', 'self'],
      ['pat', 'bundle_export', 'self'],
    ]);
    // Dr E's first bundle disclosed frame 5 (after the range asked): the entry's range holds it.
    expect([entries[3]?.dataFrom, entries[3]?.dataUntil]).toEqual([admittedAt, ts[5]]);
    expect(entries[0]?.basis).toEqual({
      type: 'consent',
      consentId: consentA,
      chainId: rig.chain.deployment.chainId,
    });
    expect(JSON.stringify(entries)).not.toContain(PATIENT_ID);
  });
});
