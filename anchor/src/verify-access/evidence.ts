/**
 * @module verify-access/evidence
 * Reads the chain evidence of an access-log bundle live (issue 18; README "Offline: the access
 * evidence file"): the `Anchored` events of its access log (anchor/src/verify
 * `fetchChainEvidence`, the fetcher of `vitaltrail-anchors/1`) and the stored grant of every
 * consent its entries cite (`consent(bytes32)` of the consent contract), as one
 * `vitaltrail-access-evidence/1` document. `vitaltrail verify-access --rpc` verifies against
 * it at once; `vitaltrail verify-access-fetch` saves it for `--evidence FILE`.
 *
 * The consent contract must be a VitalTrailConsent (its ERC-5267 EIP-712 domain) of the same
 * chain whose `registry()` is the anchors contract's, so a bundle cannot be checked against a
 * contract its gateway set up (`evidence_mismatch`).
 *
 * Read-only (no account, no transaction). Trust: as good as the RPC endpoint. This file is the
 * access verifier's only network I/O and is not part of the auditor page's bundle.
 */
import { readConsent } from '../consent/records.js';
import { CONSENT_DOMAIN_NAME } from '../consent/typed-data.js';
import { CONSENT_ABI } from '../contracts/index.js';
import { createReadClient, type Hex, toLedgerError } from '../ledger/index.js';
import { type ChainEvidence, fetchChainEvidence } from '../verify/evidence.js';
import type { AccessBundle } from './bundle.js';
import {
  ACCESS_EVIDENCE_FORMAT,
  type AccessEvidence,
  type AccessEvidenceConsent,
  AccessEvidenceError,
} from './evidence-format.js';
import { citedConsentIds } from './with-evidence.js';

/** Stored grants read at once. */
const READ_BATCH = 16;

type Reader = ReturnType<typeof createReadClient>;

/**
 * The `consent` address must hold a VitalTrailConsent contract of this chain whose
 * `registry()` is `registry`.
 * @throws {AccessEvidenceError|LedgerError} `evidence_mismatch` (also for an address without a contract), `ledger_unavailable`.
 */
async function checkConsentContract(reader: Reader, consent: Hex, chainId: number, registry: Hex) {
  const notConsent = new AccessEvidenceError(
    'evidence_mismatch',
    "the --consent address holds no VitalTrailConsent contract of the bundle's registry on this chain",
  );
  let domain: readonly unknown[];
  let itsRegistry: Hex;
  try {
    const read = (functionName: 'eip712Domain' | 'registry') =>
      reader.readContract({ address: consent, abi: CONSENT_ABI, functionName });
    domain = (await read('eip712Domain')) as readonly unknown[];
    itsRegistry = (await read('registry')) as Hex;
  } catch (err) {
    const e = toLedgerError(
      err,
      `reading the consent contract from ${reader.transport.url ?? 'the RPC endpoint'}`,
      'ledger_unavailable',
    );
    if (e.code === 'ledger_unavailable') throw e;
    throw notConsent; // another contract (no such function), or none at the address
  }
  const [, name, , domainChainId, verifyingContract] = domain;
  if (
    name !== CONSENT_DOMAIN_NAME ||
    domainChainId !== BigInt(chainId) ||
    typeof verifyingContract !== 'string' ||
    verifyingContract.toLowerCase() !== consent.toLowerCase() ||
    itsRegistry.toLowerCase() !== registry.toLowerCase()
  )
    throw notConsent;
}

/**
 * Reads the access evidence of `bundle` from `rpcUrl`: the anchors of its log (or those of a
 * saved `vitaltrail-anchors/1` document, `anchors`) and the grants it cites from `consent`.
 * @throws {AccessEvidenceError} `evidence_mismatch` (another chain, anchors contract, or a
 *   `consent` that is not a consent contract of the bundle's registry).
 * @throws {LedgerError} `ledger_unavailable`, `contract_missing`, `bad_ledger_data`.
 * @example
 * const ev = await fetchAccessEvidence({ rpcUrl, bundle, consent: deployment.consent });
 * const report = verifyAccessEvidence(bundle, ev, { vkey, source: 'rpc' });
 */
export async function fetchAccessEvidence(p: {
  rpcUrl: string;
  bundle: AccessBundle;
  consent: Hex;
  anchors?: ChainEvidence;
}): Promise<AccessEvidence> {
  const { bundle, rpcUrl } = p;
  let chain: ChainEvidence;
  const reader = createReadClient(rpcUrl);
  let chainId: number;
  try {
    chain =
      p.anchors ??
      (await fetchChainEvidence({ rpcUrl, contract: bundle.chain.contract, logIds: [bundle.log.logId] }));
    chainId = await reader.getChainId();
  } catch (err) {
    throw toLedgerError(err, `reading the chain evidence from ${rpcUrl}`, 'ledger_unavailable');
  }
  if (chain.chainId !== bundle.chain.chainId || chainId !== chain.chainId)
    throw new AccessEvidenceError(
      'evidence_mismatch',
      `the chain is ${chainId} (anchors of chain ${chain.chainId}), the bundle names chain ${bundle.chain.chainId}`,
    );
  if (chain.contract.toLowerCase() !== bundle.chain.contract.toLowerCase())
    throw new AccessEvidenceError(
      'evidence_mismatch',
      'the chain evidence is of another anchors contract than the bundle names',
    );
  await checkConsentContract(reader, p.consent, chainId, chain.registry);
  const consents: AccessEvidenceConsent[] = [];
  const absent: Hex[] = [];
  const ids = citedConsentIds(bundle, chainId);
  for (let i = 0; i < ids.length; i += READ_BATCH) {
    const batch = ids.slice(i, i + READ_BATCH);
    const records = await Promise.all(batch.map((id) => readConsent(reader, p.consent, id)));
    records.forEach((r, j) => {
      if (r === null) absent.push(batch[j]!);
      else
        consents.push({
          id: r.id.toLowerCase() as Hex,
          patient: r.patient.toLowerCase() as Hex,
          doctor: r.doctor.toLowerCase() as Hex,
          scope: r.scope,
          dataFrom: r.dataFrom,
          dataUntil: r.dataUntil,
          validFrom: r.validFrom,
          validUntil: r.validUntil,
          purpose: r.purpose,
          nonce: r.nonce,
          grantedAt: r.grantedAt,
          grantedBlock: r.grantedBlock,
          revokedAt: r.revokedAt,
          revokedBlock: r.revokedBlock,
        });
    });
  }
  const logId = bundle.log.logId.toLowerCase() as Hex;
  return {
    format: ACCESS_EVIDENCE_FORMAT,
    chainId,
    contract: chain.contract.toLowerCase() as Hex,
    registry: chain.registry.toLowerCase() as Hex,
    consent: p.consent.toLowerCase() as Hex,
    logId,
    head: chain.head,
    fetchedAt: chain.fetchedAt,
    anchors: chain.anchors.filter((a) => a.logId.toLowerCase() === logId),
    consents,
    absent,
  };
}
