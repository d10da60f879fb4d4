/**
 * @module test/bench/setup
 * What the ingest benchmarks need before the clock starts: a data directory with many
 * enrolled devices, and their signed frames.
 *
 * Enrolment in bulk: `vitaltrail kgc enroll` (anchor/src/kgc `enrollDevice`) costs ~25 ms a
 * device here (files written one by one, one store commit each), i.e. minutes for 10,000.
 * The benchmarks issue the same certificates from the same KGC issuing CA
 * (`issueCertificate`, P-256, clientAuth), record them in the gateway's store through its
 * own `upsertDevice` inside one transaction, and keep the device keys in one JSON file
 * (PKCS#8 PEM per device, mode 0600) for the driver processes instead of a directory each.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  enrollDevice,
  initKgc,
  issueCertificate,
  kgcPaths,
  NOT_BEFORE_BACKDATE_MS,
  readPrivateKey,
  spkiSha256,
} from '../../anchor/src/kgc/index.js';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';
import { createRecipientKey } from '../../gateway/src/io/store/recipients.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { frameHash, signFrame, ZERO_HASH } from '../../gateway/src/protocol/frame.js';

/** Device id → PKCS#8 PEM private key. */
export type KeyFile = Record<string, string>;

/**
 * A data directory (KGC root and issuing CA, an EC recipient) with `devices` enrolled in its
 * store, and their keys written to `<dir>/bench-keys.json`.
 * @returns the path of the keys file
 */
export async function prepareBenchDataDir(dir: string, devices: readonly string[]): Promise<string> {
  const paths = dataPaths(dir);
  await initKgc(paths.kgcDir);
  createRecipientKey(paths.recipientsDir, 'records', 'ec');
  const keys: KeyFile = {};
  const rows: { dev: string; certPem: string; spkiSha256: string; status: 'active' }[] = [];
  const [first, ...rest] = devices;
  if (first !== undefined) {
    // The first one the usual way: it also makes the KGC's issuing CA.
    const e = await enrollDevice(paths.kgcDir, first, paths.deviceDir(first));
    keys[first] = readFileSync(e.keyPath, 'utf8');
    rows.push({ dev: first, certPem: e.certPem, spkiSha256: e.spkiSha256, status: 'active' });
  }
  const k = kgcPaths(paths.kgcDir);
  const issuer = { privateKey: readPrivateKey(k.issuingKey), certPem: readFileSync(k.issuingCert, 'utf8') };
  const notBefore = new Date(Date.now() - NOT_BEFORE_BACKDATE_MS);
  const notAfter = new Date(notBefore.getTime() + 30 * 86_400_000);
  for (let at = 0; at < rest.length; at += 256) {
    const issued = await Promise.all(
      rest.slice(at, at + 256).map(async (dev) => {
        const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const { certPem } = await issueCertificate({
          subject: { commonName: dev },
          subjectPublicKey: publicKey,
          issuer,
          notBefore,
          notAfter,
          extKeyUsage: ['clientAuth'],
        });
        keys[dev] = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
        return { dev, certPem, spkiSha256: spkiSha256(certPem), status: 'active' as const };
      }),
    );
    rows.push(...issued);
  }
  const store = openStore(paths.db);
  try {
    store.db.transaction(() => {
      for (const r of rows) store.upsertDevice(r);
    })();
  } finally {
    store.close();
  }
  const keysFile = join(dir, 'bench-keys.json');
  writeFileSync(keysFile, JSON.stringify(keys), { mode: 0o600 });
  return keysFile;
}

/** The private keys of `devices` from a keys file. */
export function readKeys(keysFile: string, devices: readonly string[]): KeyObject[] {
  const all = JSON.parse(readFileSync(keysFile, 'utf8')) as KeyFile;
  return devices.map((d) => {
    const pem = all[d];
    if (pem === undefined) throw new Error(`no key for ${d} in ${keysFile}`);
    return createPrivateKey(pem);
  });
}

/** 1 s of a 250 Hz ECG lead as int16 LE microvolts: a fixed, plausible-looking chunk. */
function ecgChunk(seq: number): Uint8Array {
  const out = new Uint8Array(500);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 250; i++) {
    const t = (i + seq * 250) / 250;
    const beat = t % 0.8;
    const uv = beat < 0.04 ? 1200 * Math.sin((beat / 0.04) * Math.PI) : 60 * Math.sin(2 * Math.PI * t);
    view.setInt16(i * 2, Math.round(uv), true);
  }
  return out;
}

/**
 * `n` signed frames of one device's hash chain, from seq `fromSeq` (default 1) after `prev`:
 * the vitals of a wearable (hr, spo2, rr, temp, blood pressure, battery), and with `ecg` a
 * 1 s ECG chunk at 250 Hz (500 bytes) as well.
 */
export function signChain(
  dev: string,
  key: KeyObject,
  n: number,
  opts: { ecg?: boolean; fromSeq?: number; prev?: Uint8Array; ts?: number } = {},
): { frames: Uint8Array[]; prev: Uint8Array } {
  let prev = opts.prev ?? ZERO_HASH;
  const seq0 = opts.fromSeq ?? 1;
  const ts0 = opts.ts ?? Date.now();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const seq = seq0 + i;
    const bytes = signFrame(
      {
        v: 1,
        dev,
        seq,
        ts: ts0 + i,
        prev,
        obs: { hr: 60 + (seq % 40), spo2: 95 + (seq % 5), rr: 14 + (seq % 6), temp: 3680, sbp: 120, dbp: 80 },
        bat: 90,
        ...(opts.ecg ? { wf: { kind: 'ecg' as const, fs: 250, s: ecgChunk(seq) } } : {}),
      },
      key,
    );
    prev = frameHash(bytes);
    frames.push(bytes);
  }
  return { frames, prev };
}
