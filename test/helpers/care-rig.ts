/**
 * @module test/helpers/care-rig
 * What the care-route tests (issue 18) share: a prepared data directory with enrolled devices,
 * its embedded anvil chain (registry, anchors and the real consent contract; devices
 * registered; optionally the access log's account too, so its checkpoints are anchored),
 * accounts with their chain subjects, clinicians registered (doctors, nurses; some suspended)
 * and patients' keys, the KGC's and the gateway's consent clients, a gateway started in this
 * process with that ledger, a short consent refresh and its break-glass settings, sign-ins
 * over real HTTP, and the patient's EIP-712 grants signed by a real key and relayed by the
 * gateway's account.
 */
import { join } from 'node:path';
import type { PrivateKeyAccount } from 'viem/accounts';
import {
  CONSENT_TYPES,
  type ConsentClient,
  type ConsentMessage,
  consentDomain,
  createConsentClient,
  SCOPE_VITALS,
} from '../../anchor/src/consent/index.js';
import type { Hex } from '../../anchor/src/ledger/index.js';
import { fetchChainEvidence, parseBundle, verifyBundle } from '../../anchor/src/verify/index.js';
import { startGateway } from '../../gateway/src/app/gateway.js';
import type { GatewayOptions, RunningGateway } from '../../gateway/src/app/options.js';
import { accessLogOrigin, checkpointOrigin, logIdOf } from '../../gateway/src/core/log-names.js';
import { PSEUDONYM_KEY_BYTES, pseudonymOf } from '../../gateway/src/core/pseudonym.js';
import {
  consentAccountKeyPath,
  type EmbeddedChain,
  ensureAccountKey,
  startEmbeddedChain,
} from '../../gateway/src/io/anchoring/index.js';
import { type Role, UserFile } from '../../gateway/src/io/identity/users.js';
import { type DataPaths, keyFile } from '../../gateway/src/io/ops/index.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { prepareDataDir, registerDevicesOnChain } from './gateway.js';
import { call } from './http-client.js';

export const CARE_PW = 'care-rig-password-1';
export const H = 3_600_000;
/** A patient's keystore as the portal stores it (its content is not checked by the gateway). */
export const KEYSTORE = {
  v: 1,
  kdf: 'PBKDF2-SHA256',
  iterations: 600000,
  salt: 'c2FsdA==',
  iv: 'aXY=',
  ciphertext: 'eA==',
};

export interface CareRigOptions {
  devices: string[];
  /** Accounts (password `CARE_PW`), with their chain subject for doctors and patients. */
  users: { username: string; role: Role; subject?: string }[];
  /** Clinician ids the KGC registers as doctors. */
  doctors?: Hex[];
  /** Clinician ids the KGC registers as nurses. */
  nurses?: Hex[];
  /** Of those, the ones the KGC suspends before the gateway starts. */
  suspended?: Hex[];
  /** Pseudonym → the patient's key the KGC registers. */
  patientKeys?: [Hex, Hex][];
  /** The readings' (and access log's) checkpoint interval. Default 1 h (none in a test). */
  checkpointIntervalMs?: number;
  /** Register the access log's account on the chain, so its checkpoints are anchored. */
  anchorAccessLog?: boolean;
  /** The gateway's consent refresh. Default 300 ms. */
  refreshMs?: number;
  /** The gateway's break-glass settings (its defaults if absent). */
  breakGlass?: GatewayOptions['breakGlass'];
  /** The gateway's dashboard server settings beside its free port (its defaults if absent). */
  http?: Omit<NonNullable<GatewayOptions['http']>, 'port'>;
  /** The gateway's shredding while running (`shredAfterMs`); off if absent. */
  shredAfterMs?: number;
}

export interface CareRig {
  paths: DataPaths;
  chain: EmbeddedChain;
  gw: RunningGateway;
  /** The registration authority's consent client. */
  kgc: ConsentClient;
  /** The gateway's account: relays grants and revocations (pays the gas). */
  relay: ConsentClient;
  refreshMs: number;
  /** Session cookie per signed-in user (`login`). */
  cookies: Record<string, string>;
  login(...usernames: string[]): Promise<void>;
  /** A GET as `who`. */
  get(who: string, url: string): ReturnType<typeof call>;
  /** Signs a consent (defaults: vitals, 24 h of history, open end, in force for an hour). */
  sign(
    by: PrivateKeyAccount,
    o: Partial<ConsentMessage> & Pick<ConsentMessage, 'patient' | 'doctor'>,
  ): Promise<{
    message: ConsentMessage;
    signature: Hex;
  }>;
  /** Signs and relays a grant; its consent id, lower-case. */
  grant(
    by: PrivateKeyAccount,
    o: Partial<ConsentMessage> & Pick<ConsentMessage, 'patient' | 'doctor'>,
  ): Promise<Hex>;
  /** Waits for the gateway's next reads of the chain's consents. */
  settle(): Promise<void>;
  /** Waits (60 s at most) until a checkpoint of at least `treeSize` leaves is anchored; throws if none is. */
  anchored(treeSize: number): Promise<void>;
  /** A downloaded disclosure bundle as the auditor checks it: parsed, against this chain's anchors and registry. */
  verify(bundle: unknown): Promise<ReturnType<typeof verifyBundle>>;
  /** Stops the gateway (flushing its anchorers); the chain runs on. */
  stopGateway(): Promise<void>;
  /** Stops the gateway, if running, and the chain. */
  stop(): Promise<void>;
}

/** The pseudonym of `patientId` under the data dir's pseudonym key (made if missing). */
export function pseudonymIn(paths: DataPaths, patientId: string): Hex {
  return pseudonymOf(keyFile(paths.pseudonymKey, PSEUDONYM_KEY_BYTES), patientId) as Hex;
}

/** Prepares the data dir and its chain; `before` runs before the gateway starts (pseudonyms need `paths`). */
export async function startCareRig(
  dir: string,
  o: CareRigOptions,
  before?: (paths: DataPaths) => Partial<CareRigOptions>,
): Promise<CareRig> {
  const paths = await prepareDataDir(join(dir, 'd'), o.devices);
  const chain = await startEmbeddedChain(
    paths,
    logIdOf(checkpointOrigin('gw-1')),
    o.anchorAccessLog ? { accessLogId: logIdOf(accessLogOrigin('gw-1')) } : undefined,
  );
  const more = { ...o, ...before?.(paths) };
  await registerDevicesOnChain(paths, chain);
  const users = new UserFile(paths.users);
  for (const u of more.users)
    await users.add(u.username, u.role, CARE_PW, u.subject ? { subject: u.subject } : {});
  const kgc = createConsentClient({
    rpcUrl: chain.rpcUrl,
    deployment: chain.deployment,
    privateKey: chain.kgcKey,
  });
  const relay = createConsentClient({
    rpcUrl: chain.rpcUrl,
    deployment: chain.deployment,
    // The relay's own account (as the gateway's): the anchorer's transactions never race its nonces.
    privateKey: ensureAccountKey(consentAccountKeyPath(paths)),
  });
  for (const d of more.doctors ?? []) await kgc.registerClinician(d, 'doctor');
  for (const n of more.nurses ?? []) await kgc.registerClinician(n, 'nurse');
  for (const s of more.suspended ?? []) await kgc.suspendClinician(s);
  for (const [patient, key] of more.patientKeys ?? []) await kgc.registerPatientKey(patient, key);
  const refreshMs = more.refreshMs ?? 300;
  const gw = (await startGateway({
    dataDir: paths.root,
    logger: silentLogger,
    mqtt: { port: 0 },
    http: { ...more.http, port: 0 },
    checkpointIntervalMs: more.checkpointIntervalMs ?? 3_600_000,
    consentRefreshMs: refreshMs,
    ...(more.breakGlass ? { breakGlass: more.breakGlass } : {}),
    ...(more.shredAfterMs !== undefined ? { shredAfterMs: more.shredAfterMs } : {}),
    ledger: { rpcUrl: chain.rpcUrl, deployment: chain.deployment, privateKey: chain.gatewayKey },
  })) as RunningGateway;
  const cookies: Record<string, string> = {};
  const domain = () => consentDomain(chain.deployment.chainId, chain.deployment.consent as Hex);
  const sign: CareRig['sign'] = async (by, m) => {
    const now = BigInt(Date.now());
    const message: ConsentMessage = {
      scope: SCOPE_VITALS,
      dataFrom: now - BigInt(24 * H),
      dataUntil: 0n,
      validFrom: now - 60_000n,
      validUntil: now + BigInt(H),
      purpose: 'cardiology follow-up',
      nonce: BigInt(Math.floor(Math.random() * 1e9)),
      ...m,
    };
    const signature = await by.signTypedData({
      domain: domain(),
      types: CONSENT_TYPES,
      primaryType: 'Consent',
      message,
    });
    return { message, signature };
  };
  let stopped = false;
  const stopGateway = async () => {
    if (!stopped) await gw.stop();
    stopped = true;
  };
  return {
    paths,
    chain,
    gw,
    kgc,
    relay,
    refreshMs,
    cookies,
    async login(...names) {
      for (const username of names) {
        const r = await call(gw.http.url, 'POST', '/api/login', undefined, { username, password: CARE_PW });
        if (r.status !== 200) throw new Error(`sign-in of ${username} refused: ${r.status}`);
        cookies[username] = r.cookie as string;
      }
    },
    get: (who, url) => call(gw.http.url, 'GET', url, cookies[who]),
    sign,
    async grant(by, m) {
      const { message, signature } = await sign(by, m);
      return (await relay.submitGrant(message, signature)).consentId.toLowerCase() as Hex;
    },
    settle: () => new Promise((r) => setTimeout(r, refreshMs * 3 + 200)),
    async anchored(treeSize) {
      const deadline = Date.now() + 60_000;
      while ((gw.store.latestAnchored()?.treeSize ?? 0) < treeSize) {
        if (Date.now() > deadline) throw new Error(`no checkpoint of ${treeSize} leaves anchored in 60 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async verify(bundle) {
      const parsed = parseBundle(bundle);
      const evidence = await fetchChainEvidence({
        rpcUrl: chain.rpcUrl,
        contract: chain.deployment.anchors,
        logIds: [parsed.log.logId],
      });
      return verifyBundle(parsed, evidence.anchors, { registry: evidence.registryEvents });
    },
    stopGateway,
    async stop() {
      await stopGateway();
      await chain.anvil.stop();
    },
  };
}
