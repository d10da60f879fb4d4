/**
 * @module test/integration/no-phi-on-chain
 * No PHI on chain (issue 18; README "Consent on chain (issue 18)", "No PHI on chain"): a
 * demo-like run through a gateway on a real anvil with the real contracts (registry, anchors,
 * consent; test/helpers/care-rig), over real HTTP: a patient admitted under the code
 * `MRN-48151623` with an account named after them (`ada.lovelace`), three frames, the patient's
 * key registered through the gateway (`PUT /api/care/me/key`), two grants to a doctor relayed
 * by it (`POST /api/care/consents`, one purpose carrying a planted marker), the doctor's reads,
 * FHIR and bundle downloads, a revocation (`POST .../revoke`), and the readings' and the
 * access log's checkpoints anchored (the gateway stopped, its anchorers flushed). Then every
 * transaction's input of every block from 0 to the head, and every log's topics and data,
 * are scanned for the patient's code and name: as UTF-8, UTF-16 (LE and BE), in their own,
 * lower and upper case, as the ASCII of their hex, and as their plain SHA-256 and Keccak-256.
 * None may appear. The scan proves itself: the pseudonym is found (in inputs and in logs), and
 * so is the marker planted in a purpose (the one free text the contract takes), in both.
 */
import { createHash } from 'node:crypto';
import { keccak256, toHex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONSENT_TYPES,
  type ConsentMessage,
  clinicianIdOf,
  consentDomain,
  consentIdOf,
  patientKeyProofMessage,
  REVOCATION_TYPES,
  SCOPE_VITALS,
} from '../../anchor/src/consent/index.js';
import type { Hex } from '../../anchor/src/ledger/index.js';
import { fetchChainEvidence } from '../../anchor/src/verify/index.js';
import { accessLogOrigin, checkpointOrigin, logIdOf } from '../../gateway/src/core/log-names.js';
import { type CareRig, H, KEYSTORE, pseudonymIn, startCareRig } from '../helpers/care-rig.js';
import { deviceKey, FrameChain } from '../helpers/gateway.js';
import { call } from '../helpers/http-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const DEV = 'wr-0001';
const MRN = 'MRN-48151623';
const PATIENT_USER = 'ada.lovelace';
/** What must never reach the chain: the patient's code and name, whole and in parts. */
const SECRETS = [MRN, '48151623', PATIENT_USER, 'Ada Lovelace', 'Lovelace'];
/** Planted in a grant's purpose: the scan must find it. */
const MARKER = 'PLANTED-SCAN-MARKER-7731';

/** The hex (lower case, no 0x) of every encoding of `s` the scan looks for. */
function needles(s: string): string[] {
  const out = new Set<string>();
  for (const v of new Set([s, s.toLowerCase(), s.toUpperCase()])) {
    const utf8 = Buffer.from(v, 'utf8');
    const le = Buffer.from(v, 'utf16le');
    const be = Buffer.from(le).swap16();
    for (const b of [utf8, le, be]) out.add(b.toString('hex'));
    out.add(Buffer.from(utf8.toString('hex'), 'utf8').toString('hex')); // its hex, as text
    out.add(createHash('sha256').update(utf8).digest('hex')); // a plain hash of it
    out.add(keccak256(toHex(utf8)).slice(2));
  }
  return [...out];
}

/** Whether `needle` occurs in `hay` (both hex) at a byte boundary. */
function holds(hay: string, needle: string): boolean {
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) if (i % 2 === 0) return true;
  return false;
}

async function rpc<T>(url: string, method: string, params: unknown[]): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: T; error?: unknown };
  if (body.error !== undefined) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result as T;
}

/** Every transaction input and every log (topics and data) from block 0 to the head, as hex. */
async function chainContents(url: string): Promise<{ inputs: string[]; logs: string[]; blocks: number }> {
  const head = Number(await rpc<string>(url, 'eth_blockNumber', []));
  const inputs: string[] = [];
  for (let n = 0; n <= head; n++) {
    const block = await rpc<{ transactions: { input: string }[] }>(url, 'eth_getBlockByNumber', [
      toHex(n),
      true,
    ]);
    for (const tx of block.transactions) inputs.push(tx.input.slice(2).toLowerCase());
  }
  const logs = await rpc<{ topics: string[]; data: string }[]>(url, 'eth_getLogs', [
    { fromBlock: '0x0', toBlock: toHex(head) },
  ]);
  return {
    inputs,
    logs: logs.map((l) => [...l.topics, l.data].map((h) => h.slice(2).toLowerCase()).join('')),
    blocks: head + 1,
  };
}

describe('no PHI on chain: a demo-like run, every block and log scanned', () => {
  const tmp = makeTempDir('vt-no-phi-');
  let rig: CareRig;
  let pseudonym: Hex;
  const patientKey = privateKeyToAccount(generatePrivateKey());
  const drA = clinicianIdOf(privateKeyToAccount(generatePrivateKey()).address);
  let contents: { inputs: string[]; logs: string[]; blocks: number };

  beforeAll(async () => {
    rig = await startCareRig(
      tmp.dir,
      { devices: [DEV], users: [], checkpointIntervalMs: 300, anchorAccessLog: true },
      (paths) => {
        pseudonym = pseudonymIn(paths, MRN);
        return {
          users: [
            { username: 'dr-a', role: 'doctor', subject: drA },
            { username: PATIENT_USER, role: 'patient', subject: pseudonym },
            { username: 'cn', role: 'charge_nurse' },
          ],
          doctors: [drA],
        };
      },
    );
    await rig.login('dr-a', PATIENT_USER, 'cn');
    const send = (who: string, method: string, url: string, body: unknown) =>
      call(rig.gw.http.url, method, url, rig.cookies[who], body);
    const admitted = await send('cn', 'POST', '/api/admissions', { dev: DEV, patientId: MRN, bed: 'Bed 7' });
    expect(admitted.status).toBe(201);
    const frames = new FrameChain(DEV, deviceKey(rig.paths, DEV));
    for (let i = 0; i < 3; i++) await rig.gw.ingest.submit(frames.next({}, { hr: 70 + i, spo2: 97 }), DEV);

    // The patient's key, registered through the gateway (the KGC account of the embedded chain).
    const address = patientKey.address.toLowerCase() as Hex;
    const proof = await patientKey.signMessage({ message: patientKeyProofMessage(pseudonym, address) });
    const put = await send(PATIENT_USER, 'PUT', '/api/care/me/key', { address, keystore: KEYSTORE, proof });
    expect(put.status).toBe(200);

    // Two grants relayed by the gateway: the second's purpose carries the planted marker.
    const domain = consentDomain(rig.chain.deployment.chainId, rig.chain.deployment.consent as Hex);
    const ids: Hex[] = [];
    for (const purpose of ['cardiology follow-up', `second opinion ${MARKER}`]) {
      const now = BigInt(Date.now());
      const m: ConsentMessage = {
        patient: pseudonym,
        doctor: drA,
        scope: SCOPE_VITALS,
        dataFrom: now - BigInt(H),
        dataUntil: 0n,
        validFrom: now - 60_000n,
        validUntil: now + BigInt(H),
        purpose,
        nonce: BigInt(Math.floor(Math.random() * 1e9)),
      };
      const signature = await patientKey.signTypedData({
        domain,
        types: CONSENT_TYPES,
        primaryType: 'Consent',
        message: m,
      });
      const message = Object.fromEntries(
        Object.entries(m).map(([k, v]) => [k, typeof v === 'bigint' ? String(v) : v]),
      );
      const granted = await send(PATIENT_USER, 'POST', '/api/care/consents', { message, signature });
      expect(granted.status).toBe(201);
      ids.push(consentIdOf(domain, m).toLowerCase() as Hex);
    }
    await rig.settle();
    const range = `from=${Date.now() - H / 2}&to=${Date.now() + 60_000}`;
    for (const what of ['readings', 'fhir'])
      expect((await rig.get('dr-a', `/api/care/patients/${pseudonym}/${what}?${range}`)).status).toBe(200);
    expect((await rig.get(PATIENT_USER, `/api/care/patients/${pseudonym}/readings?${range}`)).status).toBe(
      200,
    );
    // The patient revokes the first grant, through the gateway.
    const revocation = await patientKey.signTypedData({
      domain,
      types: REVOCATION_TYPES,
      primaryType: 'Revocation',
      message: { consentId: ids[0] as Hex },
    });
    const revoked = await send(PATIENT_USER, 'POST', `/api/care/consents/${ids[0]}/revoke`, {
      signature: revocation,
    });
    expect(revoked.status).toBe(200);
    // The readings' and the access log's checkpoints anchored: the gateway's stop flushes both.
    await new Promise((r) => setTimeout(r, 1_000));
    await rig.stopGateway();
    for (const origin of [checkpointOrigin('gw-1'), accessLogOrigin('gw-1')]) {
      const ev = await fetchChainEvidence({
        rpcUrl: rig.chain.rpcUrl,
        contract: rig.chain.deployment.anchors,
        logIds: [logIdOf(origin) as Hex],
      });
      expect([origin, ev.anchors.length > 0]).toEqual([origin, true]);
    }
    contents = await chainContents(rig.chain.rpcUrl);
  }, 240_000);

  afterAll(async () => {
    await rig?.stop();
    tmp.cleanup();
  });

  it('behavior: the scan is real: the pseudonym and the planted marker are found in inputs and in logs', () => {
    expect(contents.blocks).toBeGreaterThan(10);
    const p = pseudonym.slice(2).toLowerCase();
    expect([contents.inputs.some((h) => holds(h, p)), contents.logs.some((h) => holds(h, p))]).toEqual([
      true,
      true,
    ]);
    const [marker] = needles(MARKER);
    expect([
      contents.inputs.some((h) => holds(h, marker as string)),
      contents.logs.some((h) => holds(h, marker as string)),
    ]).toEqual([true, true]);
    // Its other encodings are not on chain (only the UTF-8 the contract takes), and a byte
    // boundary is required: the scanner is not matching everything.
    expect(needles(MARKER).filter((n) => contents.inputs.some((h) => holds(h, n))).length).toBe(1);
    expect(holds('0abc', 'ab')).toBe(false);
  });

  it("behavior: no transaction input and no log holds the patient's code or name, in any encoding", () => {
    const found: string[] = [];
    for (const s of SECRETS)
      for (const n of needles(s)) {
        if (contents.inputs.some((h) => holds(h, n))) found.push(`${s} in an input (${n})`);
        if (contents.logs.some((h) => holds(h, n))) found.push(`${s} in a log (${n})`);
      }
    expect(found).toEqual([]);
  });
});
