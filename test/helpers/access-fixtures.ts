/**
 * @module test/helpers/access-fixtures
 * The golden access-log bundle (issue 18): built by the gateway's own code (io/access on a
 * real SQLite store, the checkpoint key from a fixed seed, so notes are deterministic), with
 * checkpoints marked anchored "at" blocks 10 and 11 and the matching chain evidence. Used by
 * the golden test (regenerates and compares; `VT_REGEN_ACCESS_GOLDEN=1` rewrites) and the
 * mutation test (one mutation per verifier code). `accessFixtureConsent` is the grant the
 * fixture's consent entries cite, as the consent contract would hold it (granted in block 9).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConsentRecord } from '../../anchor/src/consent/index.js';
import { writePrivateKeyPem } from '../../anchor/src/kgc/index.js';
import type { AnchorRecord, Hex } from '../../anchor/src/ledger/index.js';
import { ed25519PrivateKeyFromSeed } from '../../anchor/src/log/index.js';
import type { AccessBasis, AccessBundle, AccessEntry } from '../../anchor/src/verify-access/index.js';
import { accessLogOrigin, toHex } from '../../gateway/src/core/log-names.js';
import { AccessLog, exportAccessBundle } from '../../gateway/src/io/access/index.js';
import { checkpointKeyPath, loadCheckpointSigner } from '../../gateway/src/io/anchoring/index.js';
import { dataPaths, ensureDir } from '../../gateway/src/io/ops/index.js';
import { openStore } from '../../gateway/src/io/store/index.js';
import { makeTempDir } from './tmp.js';

export const ACCESS_FIXTURE_GATEWAY = 'gw-fixture';
export const ACCESS_FIXTURE_T0 = Date.UTC(2026, 10, 2, 8, 0, 0);
export const ACCESS_FIXTURE_CONTRACT = '0x5fbdb2315678afecb367f032d93f642f64180aa3' as Hex;
export const PATIENT_A = `0x${'a1'.repeat(32)}` as Hex;
export const PATIENT_B = `0x${'b2'.repeat(32)}` as Hex;
const SEED = new Uint8Array(32).fill(7);
const TX = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex;

/** test/fixtures/access-bundles in the source tree. */
export function accessFixtureDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return join(dir, 'test', 'fixtures', 'access-bundles');
}

/** An access entry of the fixture gateway (defaults: a nurse viewing readings on the ward's basis). */
export function accessEntry(over: Partial<AccessEntry> = {}): AccessEntry {
  return {
    v: 1,
    at: ACCESS_FIXTURE_T0,
    gateway: ACCESS_FIXTURE_GATEWAY,
    actor: 'alice',
    role: 'nurse',
    patient: PATIENT_A,
    dev: 'wr-0001',
    action: 'readings',
    dataFrom: ACCESS_FIXTURE_T0 - 3_600_000,
    dataUntil: ACCESS_FIXTURE_T0,
    basis: { type: 'ward' },
    ...over,
  };
}

const BASES: AccessBasis[] = [
  { type: 'ward' },
  { type: 'consent', consentId: `0x${'c3'.repeat(32)}`, chainId: 31337 },
  { type: 'self' },
  { type: 'break_glass', reason: 'cardiac arrest in bed 4 — no consent reachable' },
];

/**
 * The grant cited by the fixture's consent entries (id `0xc3…`, chain 31337): patient A to the
 * doctor `0xd4…`, vitals, history from T0 - 24 h (open end), valid [T0, T0 + 1 h), granted in
 * block 9 (the entries are anchored in blocks 10 and 11), not revoked.
 */
export function accessFixtureConsent(over: Partial<ConsentRecord> = {}): ConsentRecord {
  return {
    id: `0x${'c3'.repeat(32)}`,
    patient: PATIENT_A,
    doctor: `0x${'d4'.repeat(20)}`,
    scope: 1,
    dataFrom: BigInt(ACCESS_FIXTURE_T0 - 24 * 3_600_000),
    dataUntil: 0n,
    validFrom: BigInt(ACCESS_FIXTURE_T0),
    validUntil: BigInt(ACCESS_FIXTURE_T0 + 3_600_000),
    purpose: 'cardiology follow-up',
    nonce: 1n,
    grantedAt: ACCESS_FIXTURE_T0 - 60_000,
    grantedBlock: 9,
    revokedAt: null,
    revokedBlock: null,
    ...over,
  };
}

export interface AccessFixture {
  /** Every patient's accesses, the whole anchored log. */
  all: AccessBundle;
  /** Patient A's, the others withheld. */
  patient: AccessBundle;
  anchors: AnchorRecord[];
  vkey: string;
}

/** Builds the fixture in a temporary data directory (removed after). */
export function buildAccessFixture(): AccessFixture {
  const tmp = makeTempDir('vt-access-fixture-');
  try {
    const paths = dataPaths(tmp.dir);
    ensureDir(paths.gatewayDir);
    writePrivateKeyPem(
      checkpointKeyPath(paths),
      ed25519PrivateKeyFromSeed(SEED).export({ type: 'pkcs8', format: 'pem' }) as string,
    );
    const signer = loadCheckpointSigner(paths, accessLogOrigin(ACCESS_FIXTURE_GATEWAY));
    const store = openStore(paths.db);
    try {
      const log = new AccessLog({ store, gatewayId: ACCESS_FIXTURE_GATEWAY, signer });
      const anchors: AnchorRecord[] = [];
      const anchorAt = (block: number, time: number) => {
        const c = log.checkpoint(time)!;
        log.markAnchored(c.treeSize, TX(block), block, time);
        anchors.push({
          logId: log.logId,
          treeSize: c.treeSize,
          rootHash: toHex(c.root),
          checkpointTime: time,
          txHash: TX(block),
          blockNumber: block,
        });
      };
      for (let i = 0; i < 9; i++) {
        const doctor = i % 4 === 1;
        log.append(
          accessEntry({
            at: ACCESS_FIXTURE_T0 + i * 60_000,
            patient: i % 3 === 2 ? PATIENT_B : PATIENT_A,
            actor: doctor ? `0x${'d4'.repeat(20)}` : i % 4 === 2 ? 'patient-a' : 'alice',
            role: doctor ? 'doctor' : i % 4 === 2 ? 'patient' : i % 4 === 3 ? 'charge_nurse' : 'nurse',
            action: (['readings', 'trend', 'ecg', 'fhir_export'] as const)[i % 4]!,
            dev: i % 4 === 3 ? null : 'wr-0001',
            basis: BASES[i % 4]!,
          }),
        );
        if (i === 4) anchorAt(10, ACCESS_FIXTURE_T0 + 300_000);
      }
      anchorAt(11, ACCESS_FIXTURE_T0 + 600_000);
      const deployment = { chainId: 31337, anchors: ACCESS_FIXTURE_CONTRACT };
      const all = exportAccessBundle({ log, deployment, vkey: signer.vkey }).bundle;
      const patient = exportAccessBundle({ log, deployment, vkey: signer.vkey, patient: PATIENT_A }).bundle;
      return { all, patient, anchors, vkey: signer.vkey };
    } finally {
      store.close();
    }
  } finally {
    tmp.cleanup();
  }
}

/** The committed fixture files, by name (`all.bundle.json`, `patient.bundle.json`, `anchors.json`). */
export function readAccessFixture(): AccessFixture {
  const dir = accessFixtureDir();
  const read = <T>(name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as T;
  const meta = read<{ vkey: string; anchors: AnchorRecord[] }>('anchors.json');
  return {
    all: read<AccessBundle>('all.bundle.json'),
    patient: read<AccessBundle>('patient.bundle.json'),
    anchors: meta.anchors,
    vkey: meta.vkey,
  };
}

/** Writes the fixture files (VT_REGEN_ACCESS_GOLDEN=1). */
export function writeAccessFixture(f: AccessFixture): void {
  const dir = accessFixtureDir();
  mkdirSync(dir, { recursive: true });
  const write = (name: string, v: unknown) =>
    writeFileSync(join(dir, name), `${JSON.stringify(v, null, 2)}\n`);
  write('all.bundle.json', f.all);
  write('patient.bundle.json', f.patient);
  write('anchors.json', { vkey: f.vkey, anchors: f.anchors });
}
