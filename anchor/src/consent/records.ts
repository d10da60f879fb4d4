/**
 * @module anchor/consent/records
 * Reading grants back from the consent contract (README "Consent on chain (issue 18)"): one
 * stored grant (`readConsent`), and every grant of a patient or a doctor from the
 * `ConsentGranted` / `ConsentRevoked` events with their transaction hashes (`readConsents`), as
 * patients, doctors and auditors see them. Times on chain are block timestamps in seconds;
 * records carry milliseconds like every other VitalTrail time.
 */
import { parseAbiItem } from 'abitype';
import type { PublicClient } from 'viem';
import { CONSENT_ABI, CONSENT_GRANTED_EVENT, CONSENT_REVOKED_EVENT } from '../contracts/index.js';
import { assertBytes32, type Hex, LedgerError, toSafeNumber } from '../ledger/index.js';
import { toConsentError } from './errors.js';
import type { ConsentMessage } from './typed-data.js';

/** A grant as the contract stores it, with when it was granted and revoked. */
export interface ConsentRecord extends ConsentMessage {
  /** The consent id: the EIP-712 digest of the signed `Consent` (`consentIdOf`). */
  id: Hex;
  /** When the grant was recorded: its block's timestamp, in ms since the Unix epoch. */
  grantedAt: number;
  grantedBlock: number;
  /** The transaction that recorded the grant (known when read from the events). */
  grantTx?: Hex;
  /** When the revocation was recorded (block timestamp, ms), or null while not revoked. */
  revokedAt: number | null;
  revokedBlock: number | null;
  /** The transaction that recorded the revocation (known when read from the events). */
  revokeTx?: Hex;
}

/** The stored struct as viem decodes `consent(bytes32)`. */
interface StoredConsent {
  patient: Hex;
  doctor: Hex;
  scope: number;
  dataFrom: bigint;
  dataUntil: bigint;
  validFrom: bigint;
  validUntil: bigint;
  purpose: string;
  nonce: bigint;
  grantedAt: bigint;
  grantedBlock: bigint;
  revokedAt: bigint;
  revokedBlock: bigint;
}

/** Seconds from the chain to milliseconds. @throws {LedgerError} `bad_ledger_data` past 2^53 ms. */
function msOf(seconds: bigint): number {
  return toSafeNumber(seconds * 1000n);
}

/** The record of a stored grant, or null when `grantedBlock` is 0 (no such grant). */
export function recordOf(id: Hex, s: StoredConsent): ConsentRecord | null {
  if (s.grantedBlock === 0n) return null;
  const revoked = s.revokedBlock !== 0n;
  return {
    id: id.toLowerCase() as Hex,
    patient: s.patient,
    doctor: s.doctor,
    scope: s.scope,
    dataFrom: s.dataFrom,
    dataUntil: s.dataUntil,
    validFrom: s.validFrom,
    validUntil: s.validUntil,
    purpose: s.purpose,
    nonce: s.nonce,
    grantedAt: msOf(s.grantedAt),
    grantedBlock: toSafeNumber(s.grantedBlock),
    revokedAt: revoked ? msOf(s.revokedAt) : null,
    revokedBlock: revoked ? toSafeNumber(s.revokedBlock) : null,
  };
}

/**
 * The stored grant `id`, or null when there is none.
 * @throws {LedgerError} `ledger_unavailable`, `contract_missing` or `bad_ledger_data`.
 */
export async function readConsent(
  reader: PublicClient,
  consent: Hex,
  id: Hex,
): Promise<ConsentRecord | null> {
  assertBytes32('consentId', id);
  let stored: StoredConsent;
  try {
    stored = (await reader.readContract({
      address: consent,
      abi: CONSENT_ABI,
      functionName: 'consent',
      args: [id],
    })) as StoredConsent;
  } catch (err) {
    throw toConsentError(err, 'consent', 'patient', 'ledger_unavailable');
  }
  return recordOf(id, stored);
}

const GRANTED = parseAbiItem(CONSENT_GRANTED_EVENT);
const REVOKED = parseAbiItem(CONSENT_REVOKED_EVENT);
/** Blocks per `eth_getLogs` request (public endpoints often cap the range at 10k). */
const LOG_WINDOW = 10_000n;
/** Stored grants read at once. */
const READ_BATCH = 16;

/** Who to list: a patient's grants, a doctor's, both filters at once, or (neither) every grant. */
export interface ConsentFilter {
  patient?: Hex;
  doctor?: Hex;
}

/**
 * Every grant matching `filter` since `fromBlock`, in the order they were granted, each with its
 * grant transaction and, when revoked, its revocation transaction. The stored state is read for
 * each grant, so revocations mined after the event scan may show without `revokeTx`.
 * @throws {LedgerError} `ledger_unavailable`, `contract_missing` or `bad_ledger_data`.
 */
export async function readConsents(
  reader: PublicClient,
  consent: Hex,
  fromBlock: number,
  filter: ConsentFilter,
): Promise<ConsentRecord[]> {
  if (typeof filter !== 'object' || filter === null) throw new TypeError('filter must be an object');
  if (filter.patient !== undefined) assertBytes32('patient', filter.patient);
  if (filter.doctor !== undefined) assertBytes32('doctor', filter.doctor);
  const args = {
    ...(filter.patient === undefined ? {} : { patient: filter.patient }),
    ...(filter.doctor === undefined ? {} : { doctor: filter.doctor }),
  };
  const grants: { id: Hex; tx: Hex }[] = [];
  const revokeTx = new Map<string, Hex>();
  try {
    const head = await reader.getBlockNumber({ cacheTime: 0 });
    for (let from = BigInt(fromBlock); from <= head; from += LOG_WINDOW) {
      const to = from + LOG_WINDOW - 1n < head ? from + LOG_WINDOW - 1n : head;
      const range = { address: consent, args, fromBlock: from, toBlock: to } as const;
      const [granted, revoked] = await Promise.all([
        reader.getLogs({ ...range, event: GRANTED }),
        reader.getLogs({ ...range, event: REVOKED }),
      ]);
      for (const l of granted) {
        if (l.removed || l.transactionHash === null || l.args.consentId === undefined) continue;
        grants.push({ id: l.args.consentId, tx: l.transactionHash });
      }
      for (const l of revoked) {
        if (l.removed || l.transactionHash === null || l.args.consentId === undefined) continue;
        revokeTx.set(l.args.consentId.toLowerCase(), l.transactionHash);
      }
    }
  } catch (err) {
    throw toConsentError(err, 'consentsOf', 'patient', 'ledger_unavailable');
  }
  const out: ConsentRecord[] = [];
  for (let i = 0; i < grants.length; i += READ_BATCH) {
    const batch = grants.slice(i, i + READ_BATCH);
    const records = await Promise.all(batch.map((g) => readConsent(reader, consent, g.id)));
    records.forEach((r, j) => {
      if (r === null) throw new LedgerError('bad_ledger_data', 'consentsOf: a granted consent is not stored');
      const tx = revokeTx.get(r.id);
      out.push({
        ...r,
        grantTx: (batch[j] as { tx: Hex }).tx,
        ...(tx === undefined ? {} : { revokeTx: tx }),
      });
    });
  }
  return out; // eth_getLogs returns logs in chain order, and the windows ascend
}
