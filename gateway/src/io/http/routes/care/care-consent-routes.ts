/**
 * @module io/http/routes/care/care-consent-routes
 * What the patient portal and the doctor's page need beyond the data (issue 18): who the
 * caller is on the chain, the patient's key, the relay of the patient's signed grants and
 * revocations to the consent contract (the gateway pays the gas; it can sign nothing for the
 * patient), and the access log as "who saw my data". Contract:
 * - `GET /api/care/me` (doctor, patient) → `{username, role, subject, chain, patientKey?, breakGlass?}`:
 *   `chain` `{chainId, consent}` or null; a patient's `patientKey` `{address, keystore}` (the
 *   key registered on the chain now, and the keystore kept here); a doctor's `breakGlass`.
 * - `PUT /api/care/me/key` (patient) `{address, keystore, proof}` → `{address, txHash, block}`:
 *   `proof` is the new key's EIP-191 signature of anchor `patientKeyProofMessage`; the key is
 *   registered on the chain by this gateway's registration authority account (the embedded
 *   chain's KGC), unless it already is (then `txHash` null). 409 `patient_key_exists` when
 *   another key is registered, 503 `registrar_unavailable` without an authority account.
 * - `GET /api/care/doctors` (patient) → `{doctors: [{username, clinicianId, suspended}]}`.
 * - `POST /api/care/consents` (patient) `{message, signature}` → 201 `{consent, txHash, block}`.
 * - `POST /api/care/consents/:consentId/revoke` (patient) `{signature}` → `{consentId, txHash, block}`.
 * - `GET /api/care/access?limit=N` (doctor, patient) → `{entries}`: the access log's entries
 *   about the patient, or by the doctor, newest first.
 * A grant or revocation the contract refuses is 422 `consent_rejected`, its reason the
 * contract's rule (`BadSignature`, `DoctorSuspended`, …); every write is audited.
 */
import { type Hex, isAddress, verifyMessage } from 'viem';
import {
  type ConsentClient,
  type ConsentMessage,
  consentRefusalOf,
  patientKeyProofMessage,
} from '../../../../../../anchor/src/consent/index.js';
import type { AccessEntry } from '../../../../../../anchor/src/verify-access/index.js';
import { VitalTrailError } from '../../../../protocol/errors.js';
import { KEYSTORE_MAX_BYTES, type PatientKeys } from '../../../care/index.js';
import type { UserDirectory } from '../../../identity/index.js';
import type { HttpRoutes } from '../../route-contract.js';
import { CARE_ROLES, PATIENT_ROLES } from '../../route-roles.js';
import { type CareRoutesOptions, type CareUser, careGuard } from './care-guard.js';
import { consentDto } from './care-routes.js';

/** What the consent routes add to the care routes' options. */
export interface CareConsentOptions extends CareRoutesOptions {
  /** The consent contract's chain and address; null without one. */
  chain: { chainId: number; consent: string } | null;
  /** Submits the patients' signed grants and revocations (any funded account); null without a chain. */
  relay: ConsentClient | null;
  /** The registration authority's client (registers patients' keys); null when this gateway holds none. */
  registrar: ConsentClient | null;
  keys: PatientKeys;
  users: Pick<UserDirectory, 'get' | 'list'>;
  /** The access log's newest entries about a patient or by an actor. */
  access: {
    latest(
      filter: { patient?: string; actor?: string },
      limit: number,
    ): { index: number; entry: AccessEntry }[];
  };
  /** Told of every write to the chain made for a patient (the audit). Must not throw. */
  onWrite?: (w: {
    event: 'consent_granted' | 'consent_revoked' | 'patient_key_registered';
    username: string;
    detail: string;
  }) => void;
}

const HEX32 = '^0x[0-9a-fA-F]{64}$';
const UINT = '^[0-9]{1,20}$';
const KEY_BODY = {
  type: 'object',
  required: ['address', 'keystore', 'proof'],
  additionalProperties: false,
  properties: {
    address: { type: 'string', pattern: '^0x[0-9a-fA-F]{40}$' },
    keystore: { type: 'object' },
    proof: { type: 'string', pattern: '^0x[0-9a-fA-F]{130}$' },
  },
} as const;
const GRANT_BODY = {
  type: 'object',
  required: ['message', 'signature'],
  additionalProperties: false,
  properties: {
    message: {
      type: 'object',
      required: [
        'patient',
        'doctor',
        'scope',
        'dataFrom',
        'dataUntil',
        'validFrom',
        'validUntil',
        'purpose',
        'nonce',
      ],
      additionalProperties: false,
      properties: {
        patient: { type: 'string', pattern: HEX32 },
        doctor: { type: 'string', pattern: HEX32 },
        scope: { type: 'integer', minimum: 1, maximum: 3 },
        dataFrom: { type: 'string', pattern: UINT },
        dataUntil: { type: 'string', pattern: UINT },
        validFrom: { type: 'string', pattern: UINT },
        validUntil: { type: 'string', pattern: UINT },
        purpose: { type: 'string', maxLength: 200 },
        nonce: { type: 'string', pattern: '^[0-9]{1,78}$' },
      },
    },
    signature: { type: 'string', pattern: '^0x[0-9a-fA-F]{130}$' },
  },
} as const;
const REVOKE_BODY = {
  type: 'object',
  required: ['signature'],
  additionalProperties: false,
  properties: { signature: { type: 'string', pattern: '^0x[0-9a-fA-F]{130}$' } },
} as const;
const CONSENT_PARAM = {
  type: 'object',
  required: ['consentId'],
  properties: { consentId: { type: 'string', pattern: HEX32 } },
} as const;
const ACCESS_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 } },
} as const;

type GrantBody = {
  message: Record<
    'patient' | 'doctor' | 'dataFrom' | 'dataUntil' | 'validFrom' | 'validUntil' | 'purpose' | 'nonce',
    string
  > & {
    scope: number;
  };
  signature: Hex;
};

/**
 * The consent routes, for `startHttpServer({ routes })`.
 * @example routes.push(careConsentRoutes({ ...careOpts, chain, relay, registrar, keys, access }));
 */
export function careConsentRoutes(opts: CareConsentOptions): HttpRoutes {
  const { now, fail, subjectOf, guarded } = careGuard(opts);
  const write = (w: Parameters<NonNullable<CareConsentOptions['onWrite']>>[0]) => {
    try {
      opts.onWrite?.(w);
    } catch {
      // The audit sink must not change the answer: the chain already holds the write.
    }
  };
  /** Runs a chain write, a contract refusal becoming 422 with the rule, no chain 503. */
  const onChain = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      const rule = consentRefusalOf(err);
      if (rule !== null) return fail('consent_rejected', `the consent contract refused it: ${rule}`);
      if (err instanceof VitalTrailError && err.code === 'ledger_unavailable')
        return fail('ledger_unavailable');
      throw err;
    }
  };
  const chainKey = async (patient: string): Promise<string | null> => {
    if (!opts.relay) return null;
    try {
      return (await opts.relay.patientKey(patient as Hex))?.toLowerCase() ?? null;
    } catch {
      return fail('ledger_unavailable');
    }
  };

  const getMe = guarded(CARE_ROLES, async (_req, user: CareUser) => {
    const subject = subjectOf(user.username);
    const base = { username: user.username, role: user.role, subject, chain: opts.chain };
    if (user.role === 'doctor')
      return { ...base, breakGlass: (opts.breakGlassRoles ?? []).includes('doctor') };
    const kept = opts.keys.get(subject);
    return { ...base, patientKey: { address: await chainKey(subject), keystore: kept?.keystore ?? null } };
  });

  const putKey = guarded<{ Body: { address: Hex; keystore: object; proof: Hex } }>(
    PATIENT_ROLES,
    async (req, user) => {
      const subject = subjectOf(user.username);
      const { keystore, proof } = req.body;
      const address = req.body.address.toLowerCase() as Hex;
      if (!isAddress(address, { strict: false })) return fail('bad_request');
      if (Buffer.byteLength(JSON.stringify(keystore)) > KEYSTORE_MAX_BYTES)
        return fail('bad_request', `the keystore is over ${KEYSTORE_MAX_BYTES} bytes`);
      const message = patientKeyProofMessage(subject as Hex, address);
      if (!(await verifyMessage({ address, message, signature: proof }).catch(() => false)))
        return fail('bad_request', 'the proof is not this key’s signature of the key message');
      if (!opts.relay) return fail('ledger_unavailable');
      const current = await chainKey(subject);
      if (current !== null && current !== address) return fail('patient_key_exists');
      let tx: { txHash: Hex; block: number } | null = null;
      if (current === null) {
        if (!opts.registrar) return fail('registrar_unavailable');
        const registrar = opts.registrar;
        tx = await onChain(() => registrar.registerPatientKey(subject as Hex, address));
        write({
          event: 'patient_key_registered',
          username: user.username,
          detail: `key ${address} of ${subject} in tx ${tx.txHash}`,
        });
      }
      opts.keys.put(subject, address, keystore, now());
      return { address, txHash: tx?.txHash ?? null, block: tx?.block ?? null };
    },
  );

  const getDoctors = guarded(PATIENT_ROLES, async () => {
    const doctors = [];
    for (const u of opts.users.list()) {
      if (u.role !== 'doctor' || u.subject === undefined || u.disabled) continue;
      let suspended: boolean | null = null;
      try {
        const c = await opts.relay?.clinician(u.subject as Hex);
        suspended = c ? c.suspended || c.role !== 'doctor' : c === null ? true : null;
      } catch {
        suspended = null; // unknown while the chain cannot be read
      }
      doctors.push({ username: u.username, clinicianId: u.subject.toLowerCase(), suspended });
    }
    return { doctors };
  });

  const postConsent = guarded<{ Body: GrantBody }>(
    PATIENT_ROLES,
    async (req, user) => {
      const subject = subjectOf(user.username);
      const m = req.body.message;
      if (m.patient.toLowerCase() !== subject) return fail('forbidden');
      if (!opts.relay) return fail('ledger_unavailable');
      const message: ConsentMessage = {
        patient: m.patient.toLowerCase() as Hex,
        doctor: m.doctor.toLowerCase() as Hex,
        scope: m.scope,
        dataFrom: BigInt(m.dataFrom),
        dataUntil: BigInt(m.dataUntil),
        validFrom: BigInt(m.validFrom),
        validUntil: BigInt(m.validUntil),
        purpose: m.purpose,
        nonce: BigInt(m.nonce),
      };
      const relay = opts.relay;
      const tx = await onChain(() => relay.submitGrant(message, req.body.signature));
      write({
        event: 'consent_granted',
        username: user.username,
        detail: `consent ${tx.consentId} of ${subject} for ${message.doctor} in tx ${tx.txHash}`,
      });
      await opts.consents?.refresh().catch(() => undefined); // the next read shows it
      const record = await relay.consent(tx.consentId).catch(() => null);
      return {
        consent: record
          ? consentDto({ ...record, grantTx: tx.txHash }, now())
          : { id: tx.consentId.toLowerCase() },
        txHash: tx.txHash,
        block: tx.block,
      };
    },
    201,
  );

  const postRevoke = guarded<{ Params: { consentId: string }; Body: { signature: Hex } }>(
    PATIENT_ROLES,
    async (req, user) => {
      const subject = subjectOf(user.username);
      const id = req.params.consentId.toLowerCase() as Hex;
      if (!opts.relay) return fail('ledger_unavailable');
      const relay = opts.relay;
      const record = await relay.consent(id).catch(() => fail('ledger_unavailable'));
      if (record === null || record.patient.toLowerCase() !== subject) return fail('not_found');
      const tx = await onChain(() => relay.submitRevocation(id, req.body.signature));
      write({
        event: 'consent_revoked',
        username: user.username,
        detail: `consent ${id} of ${subject} in tx ${tx.txHash}`,
      });
      await opts.consents?.refresh().catch(() => undefined);
      return { consentId: id, txHash: tx.txHash, block: tx.block };
    },
  );

  const getAccess = guarded<{ Querystring: { limit?: number } }>(CARE_ROLES, async (req, user) => {
    const subject = subjectOf(user.username);
    const filter = user.role === 'patient' ? { patient: subject } : { actor: subject };
    const entries = opts.access
      .latest(filter, req.query.limit ?? 200)
      .map(({ index, entry }) => ({ index, ...entry }));
    return { entries };
  });

  return async (app, auth) => {
    app.get('/api/care/me', getMe(auth));
    app.put('/api/care/me/key', { schema: { body: KEY_BODY } }, putKey(auth));
    app.get('/api/care/doctors', getDoctors(auth));
    app.post('/api/care/consents', { schema: { body: GRANT_BODY } }, postConsent(auth));
    app.post(
      '/api/care/consents/:consentId/revoke',
      { schema: { params: CONSENT_PARAM, body: REVOKE_BODY } },
      postRevoke(auth),
    );
    app.get('/api/care/access', { schema: { querystring: ACCESS_QUERY } }, getAccess(auth));
  };
}
