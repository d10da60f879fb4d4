/**
 * @module anchor/consent/client
 * The consent contract over any EVM JSON-RPC endpoint with viem (README "Consent on chain
 * (issue 18)"), in the manner of anchor/ledger/viem: the registration authority's writes
 * (clinicians, patient keys), the submission of a patient's signed grant or revocation by
 * whoever pays the gas (the gateway), and reads for patients, doctors and auditors. Reads need
 * no private key; a write without one throws `TypeError`.
 *
 * Writes are checked with `eth_estimateGas` before a nonce is taken, so a refusal (a custom
 * error of the contract, decoded into `consent_rejected`, `registry_rejected` or `not_kgc`)
 * never leaves a nonce gap; sends from one client go out in call order. viem's errors
 * interpolate request arguments: they are kept only as `cause` (STYLE.md §3).
 */
import {
  type Abi,
  type Chain,
  createWalletClient,
  defineChain,
  http,
  type PublicClient,
  parseEventLogs,
  type TransactionReceipt,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createNonceManager, jsonRpc } from 'viem/nonce';
import { CONSENT_ABI } from '../contracts/index.js';
import {
  assertAddress,
  assertBytes32,
  assertSafeUint,
  createReadClient,
  type Deployment,
  type Hex,
  LEDGER_ERROR_CODES,
  LedgerError,
  toSafeNumber,
} from '../ledger/index.js';
import { type ConsentWriteKind, toConsentError } from './errors.js';
import { type ConsentFilter, type ConsentRecord, readConsent, readConsents } from './records.js';
import { assertConsentMessage, type ConsentMessage } from './typed-data.js';

/** A clinician's role in the consent contract: 1 doctor, 2 nurse. */
export type ClinicianRole = 'doctor' | 'nurse';

/** A clinician as the contract holds them. */
export interface ClinicianRecord {
  role: ClinicianRole;
  suspended: boolean;
  /** The block since which this status (registered, suspended or reinstated) holds. */
  sinceBlock: number;
}

/** A mined write. */
export interface ConsentTx {
  txHash: Hex;
  block: number;
}

/** The consent contract as VitalTrail uses it. Every write waits for its receipt. */
export interface ConsentClient {
  /** The signing account, or null for a read-only client. */
  readonly account: Hex | null;
  /** The consent contract's address. */
  readonly address: Hex;
  /** Authority only. @throws {LedgerError} `not_kgc`, `registry_rejected` (already registered, bad role, zero id), … */
  registerClinician(id: Hex, role: ClinicianRole | 1 | 2): Promise<ConsentTx>;
  /** Authority only. @throws {LedgerError} `not_kgc`, `registry_rejected` (unknown, already suspended), … */
  suspendClinician(id: Hex): Promise<ConsentTx>;
  /** Authority only. @throws {LedgerError} `not_kgc`, `registry_rejected` (unknown, not suspended), … */
  reinstateClinician(id: Hex): Promise<ConsentTx>;
  /** The clinician, or null when none is registered under `id`. */
  clinician(id: Hex): Promise<ClinicianRecord | null>;
  /** Authority only: registers or replaces a patient's signing account. @throws {LedgerError} `not_kgc`, `registry_rejected`, … */
  registerPatientKey(patient: Hex, address: Hex): Promise<ConsentTx>;
  /** The patient's current signing account, or null when none. */
  patientKey(patient: Hex): Promise<Hex | null>;
  /**
   * Submits a grant signed by the patient (`signTypedData` of `CONSENT_TYPES`); this client's
   * account pays the gas. @throws {LedgerError} `consent_rejected` (the reason names the rule:
   * `consentRefusalOf`), `ledger_unavailable`, `contract_missing`, `tx_failed`.
   */
  submitGrant(message: ConsentMessage, signature: Hex): Promise<ConsentTx & { consentId: Hex }>;
  /** Submits a revocation signed by the patient's current key. @throws {LedgerError} `consent_rejected`, … */
  submitRevocation(consentId: Hex, signature: Hex): Promise<ConsentTx>;
  /** The stored grant, or null when there is none. */
  consent(id: Hex): Promise<ConsentRecord | null>;
  /** Every grant of a patient and/or a doctor (all grants when neither is given), from the events. */
  consentsOf(filter: ConsentFilter): Promise<ConsentRecord[]>;
}

/** The parameters of `createConsentClient`. */
export interface ConsentClientParameters {
  rpcUrl: string;
  /** A deployment that names its consent contract (`ensureConsentContract` adds one). */
  deployment: Deployment;
  /** The signing account's key: the authority (KGC) for registrations, any funded account (the gateway) for submissions. Absent: read-only. */
  privateKey?: Hex;
  /** Blocks to wait after the including one before a write returns (default 0: BFT-final chains). */
  confirmations?: number;
  /** When it aborts, the client's reads in flight are aborted and later ones fail at once. */
  signal?: AbortSignal;
}

const TRANSPORT = { retryCount: 2, timeout: 10_000 } as const;
const POLLING_MS = 250;
const RECEIPT_TIMEOUT_MS = 60_000;
const ZERO_ADDRESS = `0x${'0'.repeat(40)}`;
const HEX = /^0x([0-9a-fA-F]{2})*$/;

function chainFor(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    id: chainId,
    name: `vitaltrail-${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

function roleNumber(role: unknown): 1 | 2 {
  if (role === 'doctor' || role === 1) return 1;
  if (role === 'nurse' || role === 2) return 2;
  throw new TypeError("role must be 'doctor', 'nurse', 1 or 2");
}

function assertSignature(value: unknown): asserts value is Hex {
  if (typeof value !== 'string' || !HEX.test(value)) throw new TypeError('signature must be 0x hex');
}

/**
 * A client of the deployment's consent contract.
 *
 * @throws {TypeError|RangeError} on a malformed deployment, key or confirmations.
 * @throws {LedgerError} `contract_missing` when the deployment names no consent contract.
 * @example
 * const gateway = createConsentClient({ rpcUrl, deployment, privateKey: gatewayKey });
 * const signature = await patient.signTypedData({ domain, types: CONSENT_TYPES, primaryType: 'Consent', message });
 * const { consentId } = await gateway.submitGrant(message, signature);
 */
export function createConsentClient(p: ConsentClientParameters): ConsentClient {
  const d = p.deployment;
  if (typeof d !== 'object' || d === null) throw new TypeError('deployment must be an object');
  assertSafeUint('deployment.chainId', d.chainId, 1);
  assertSafeUint('deployment.deployBlock', d.deployBlock);
  if (d.consent === undefined) {
    throw new LedgerError(
      'contract_missing',
      'createConsentClient: the deployment names no consent contract',
    );
  }
  assertAddress('deployment.consent', d.consent);
  if (d.consentDeployBlock !== undefined)
    assertSafeUint('deployment.consentDeployBlock', d.consentDeployBlock);
  const address = d.consent;
  const fromBlock = d.consentDeployBlock ?? d.deployBlock;
  const confirmations = p.confirmations ?? 0;
  assertSafeUint('confirmations', confirmations, 0);
  const reader = createReadClient(p.rpcUrl, d.chainId, p.signal);
  const send =
    p.privateKey === undefined ? null : createSend(p.rpcUrl, d.chainId, p.privateKey, reader, confirmations);

  let chainChecked: Promise<void> | undefined;
  const ensureChain = (action: string): Promise<void> => {
    chainChecked ??= (async () => {
      let id: number;
      try {
        id = await reader.getChainId();
      } catch (err) {
        throw toConsentError(err, action, 'patient', 'ledger_unavailable');
      }
      if (id !== d.chainId)
        throw new LedgerError('contract_missing', `${action}: the node serves another chain id`);
    })().catch((err: unknown) => {
      chainChecked = undefined; // check again next time
      throw err;
    });
    return chainChecked;
  };

  const write = async (
    action: string,
    kind: ConsentWriteKind,
    functionName: string,
    args: readonly unknown[],
  ): Promise<TransactionReceipt> => {
    if (send === null) throw new TypeError(`${action} needs a privateKey`);
    await ensureChain(action);
    let code: Hex | undefined;
    try {
      code = await reader.getCode({ address });
    } catch (err) {
      throw toConsentError(err, action, kind, 'ledger_unavailable');
    }
    // A write to an address without code would "succeed".
    if (code === undefined || code === '0x') {
      throw new LedgerError('contract_missing', `${action}: ${LEDGER_ERROR_CODES.contract_missing}`);
    }
    return send.send(action, kind, address, functionName, args);
  };
  const txOf = (r: TransactionReceipt): ConsentTx => ({
    txHash: r.transactionHash,
    block: toSafeNumber(r.blockNumber),
  });
  const read = async <T>(action: string, fn: () => Promise<T>): Promise<T> => {
    await ensureChain(action);
    try {
      return await fn();
    } catch (err) {
      throw toConsentError(err, action, 'patient', 'ledger_unavailable');
    }
  };

  return {
    account: send?.account ?? null,
    address,
    async registerClinician(id, role) {
      assertBytes32('id', id);
      const r = roleNumber(role);
      return txOf(await write('registerClinician', 'authority', 'registerClinician', [id, r]));
    },
    async suspendClinician(id) {
      assertBytes32('id', id);
      return txOf(await write('suspendClinician', 'authority', 'suspendClinician', [id]));
    },
    async reinstateClinician(id) {
      assertBytes32('id', id);
      return txOf(await write('reinstateClinician', 'authority', 'reinstateClinician', [id]));
    },
    async clinician(id) {
      assertBytes32('id', id);
      const [role, suspended, sinceBlock] = await read('clinician', () =>
        reader.readContract({ address, abi: CONSENT_ABI, functionName: 'clinician', args: [id] }),
      );
      if (role === 0) return null;
      if (role !== 1 && role !== 2) throw new LedgerError('bad_ledger_data', 'clinician: unknown role');
      return { role: role === 1 ? 'doctor' : 'nurse', suspended, sinceBlock: toSafeNumber(sinceBlock) };
    },
    async registerPatientKey(patient, key) {
      assertBytes32('patient', patient);
      assertAddress('address', key);
      return txOf(await write('registerPatientKey', 'authority', 'registerPatientKey', [patient, key]));
    },
    async patientKey(patient) {
      assertBytes32('patient', patient);
      const key = await read('patientKey', () =>
        reader.readContract({ address, abi: CONSENT_ABI, functionName: 'patientKey', args: [patient] }),
      );
      return key.toLowerCase() === ZERO_ADDRESS ? null : key;
    },
    async submitGrant(message, signature) {
      assertConsentMessage(message);
      assertSignature(signature);
      const c = {
        patient: message.patient,
        doctor: message.doctor,
        scope: message.scope,
        dataFrom: message.dataFrom,
        dataUntil: message.dataUntil,
        validFrom: message.validFrom,
        validUntil: message.validUntil,
        purpose: message.purpose,
        nonce: message.nonce,
      };
      const receipt = await write('grant', 'patient', 'grant', [c, signature]);
      // Only our event proves the grant (and carries the id the contract computed).
      const ev = parseEventLogs({ abi: CONSENT_ABI, eventName: 'ConsentGranted', logs: receipt.logs }).find(
        (e) => e.address.toLowerCase() === address.toLowerCase(),
      );
      if (!ev) throw new LedgerError('contract_missing', `grant: ${LEDGER_ERROR_CODES.contract_missing}`);
      return { consentId: ev.args.consentId, ...txOf(receipt) };
    },
    async submitRevocation(consentId, signature) {
      assertBytes32('consentId', consentId);
      assertSignature(signature);
      return txOf(await write('revoke', 'patient', 'revoke', [consentId, signature]));
    },
    async consent(id) {
      assertBytes32('consentId', id);
      await ensureChain('consent');
      return readConsent(reader, address, id);
    },
    async consentsOf(filter) {
      await ensureChain('consentsOf');
      return readConsents(reader, address, fromBlock, filter);
    },
  };
}

interface Send {
  readonly account: Hex;
  send(
    action: string,
    kind: ConsentWriteKind,
    address: Hex,
    functionName: string,
    args: readonly unknown[],
  ): Promise<TransactionReceipt>;
}

/** Estimate (decodes refusals, takes no nonce), send, wait for the receipt, check its status. */
function createSend(
  rpcUrl: string,
  chainId: number,
  privateKey: Hex,
  reader: PublicClient,
  confirmations: number,
): Send {
  assertBytes32('privateKey', privateKey, true);
  const nonceManager = createNonceManager({ source: jsonRpc() }); // one per client
  let account: ReturnType<typeof privateKeyToAccount>;
  try {
    account = privateKeyToAccount(privateKey, { nonceManager });
  } catch {
    throw new RangeError('privateKey is not a valid secp256k1 key');
  }
  const chain = chainFor(chainId, rpcUrl);
  const wallet = createWalletClient({
    account,
    chain,
    transport: http(rpcUrl, TRANSPORT),
    pollingInterval: POLLING_MS,
  });
  let queue: Promise<void> = Promise.resolve();
  return {
    account: account.address,
    async send(action, kind, address, functionName, args) {
      const abi: Abi = CONSENT_ABI; // widened, as in ledger/viem: the callers name its functions
      const call = { address, abi, functionName, args, account } as const;
      // Estimate and send one call at a time, so nonces follow call order.
      const sent = queue.then(async (): Promise<Hex> => {
        try {
          const gas = await reader.estimateContractGas(call);
          return await wallet.writeContract({ ...call, chain, gas: (gas * 6n) / 5n });
        } catch (err) {
          throw toConsentError(err, action, kind);
        }
      });
      queue = sent.then(
        () => undefined,
        () => undefined,
      );
      const hash = await sent;
      let receipt: TransactionReceipt;
      try {
        receipt = await reader.waitForTransactionReceipt({
          hash,
          confirmations: confirmations + 1,
          timeout: RECEIPT_TIMEOUT_MS + confirmations * 15_000,
        });
      } catch (err) {
        nonceManager.reset({ address: account.address, chainId });
        throw toConsentError(err, action, kind, 'ledger_unavailable');
      }
      if (receipt.status !== 'success') {
        // The state changed between estimate and inclusion (e.g. the doctor was suspended): replay at that block.
        try {
          await reader.simulateContract({ ...call, blockNumber: receipt.blockNumber });
        } catch (err) {
          throw toConsentError(err, action, kind);
        }
        throw new LedgerError('tx_failed', `${action}: the transaction reverted`);
      }
      return receipt;
    },
  };
}
