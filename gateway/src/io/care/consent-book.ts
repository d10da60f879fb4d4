/**
 * @module io/care/consent-book
 * The gateway's copy of what the consortium chain says about consents and doctors (issue 18),
 * and the decision on a doctor's request for a patient's data (core/consent-policy) made on
 * it. The chain is the record (anchor/src/consent, contract VitalTrailConsent): the copy is
 * re-read every `refreshMs` (default 10 s) and at once after a grant or a revocation this
 * gateway submitted (`refresh`), and a doctor's registry status is re-read when older than
 * `refreshMs`; so a suspension made anywhere reaches every gateway within `refreshMs` plus a
 * read, well within the 60 s. The consent that would serve a request is read again at
 * the request, so a revocation counts at once.
 *
 * Fail closed: while the chain cannot be read the copy ages; once it is older than
 * `maxStaleMs` (default 60 s) no doctor's request is allowed (`ledger_unavailable`, HTTP
 * 503), since a revocation could have been missed. A patient reading their own data and the
 * ward team are not decided here and do not depend on the chain.
 */
import type { ConsentFilter, ConsentRecord } from '../../../../anchor/src/consent/index.js';
import {
  type ConsentDecision,
  type ConsentTerms,
  type DataRequest,
  decideAccess,
} from '../../core/consent-policy.js';
import { VitalTrailError } from '../../protocol/errors.js';
import { DEFAULT_FIRST_READ_MS, settledWithin } from './first-read.js';

/** What the book reads of the chain (anchor/src/consent `ConsentClient`). */
export interface ConsentSource {
  consentsOf(filter: ConsentFilter): Promise<ConsentRecord[]>;
  /** One grant as the chain holds it now (its revocation included), or null. */
  consent(id: `0x${string}`): Promise<ConsentRecord | null>;
  clinician(id: `0x${string}`): Promise<{ role: 'doctor' | 'nurse'; suspended: boolean } | null>;
}

export interface ConsentBookOptions {
  source: ConsentSource;
  /** How often the consents and a doctor's status are re-read (ms, default 10 000). */
  refreshMs?: number;
  /** Past this age (ms, default 60 000) of the last good read, doctors are refused. */
  maxStaleMs?: number;
  now?: () => number;
  /** Told of a failed read (the copy stays; the next read tries again). */
  onError?: (err: unknown) => void;
  /** How long `open` waits for the first read (ms, default `DEFAULT_FIRST_READ_MS`, 3 s). */
  firstReadMs?: number;
}

export const DEFAULT_CONSENT_REFRESH_MS = 10_000;
export const DEFAULT_CONSENT_MAX_STALE_MS = 60_000;

/** A chain record as the policy reads it (numbers, lower-case hex). */
export function termsOf(r: ConsentRecord): ConsentTerms {
  return {
    id: r.id.toLowerCase(),
    patient: r.patient.toLowerCase(),
    doctor: r.doctor.toLowerCase(),
    scope: r.scope,
    dataFrom: Number(r.dataFrom),
    dataUntil: Number(r.dataUntil),
    validFrom: Number(r.validFrom),
    validUntil: Number(r.validUntil),
    grantedAt: r.grantedAt,
    revokedAt: r.revokedAt,
  };
}

export class ConsentBook {
  readonly #source: ConsentSource;
  readonly #refreshMs: number;
  readonly #maxStaleMs: number;
  readonly #now: () => number;
  readonly #onError: (err: unknown) => void;
  #records: ConsentRecord[] = [];
  #readAt = Number.NEGATIVE_INFINITY;
  #reading: Promise<void> | null = null;
  /** The read that follows the one under way (`refresh`). */
  #again: Promise<void> | null = null;
  readonly #doctors = new Map<string, { suspended: boolean; registered: boolean; at: number }>();
  #timer: NodeJS.Timeout | null = null;

  private constructor(o: ConsentBookOptions) {
    this.#source = o.source;
    this.#refreshMs = o.refreshMs ?? DEFAULT_CONSENT_REFRESH_MS;
    this.#maxStaleMs = o.maxStaleMs ?? DEFAULT_CONSENT_MAX_STALE_MS;
    this.#now = o.now ?? Date.now;
    this.#onError = o.onError ?? (() => {});
  }

  /**
   * Reads the chain once (waiting for it at most `firstReadMs`) and keeps the copy fresh until
   * `close`. A first read that fails, or is not done in time, leaves an empty, stale copy
   * (doctors refused) until a read succeeds: the one under way, or the next interval's.
   */
  static async open(o: ConsentBookOptions): Promise<ConsentBook> {
    const book = new ConsentBook(o);
    const first = book.refresh().catch((err) => book.#onError(err));
    book.#timer = setInterval(() => void book.refresh().catch((err) => book.#onError(err)), book.#refreshMs);
    book.#timer.unref();
    await settledWithin(first, o.firstReadMs ?? DEFAULT_FIRST_READ_MS);
    return book;
  }

  /**
   * Re-reads every consent. A read already under way may have begun before what the caller
   * just wrote (a grant this gateway submitted): then one more read follows it, shared by every
   * call made meanwhile, so the copy after `await refresh()` holds everything written before
   * the call. @throws what the source throws
   */
  refresh(): Promise<void> {
    if (!this.#reading) return this.#read();
    this.#again ??= this.#reading
      .catch(() => {}) // its caller is told; this one reads again either way
      .then(() => {
        this.#again = null;
        // A read begun since that one ended began after this call too.
        return this.#reading ?? this.#read();
      });
    return this.#again;
  }

  #read(): Promise<void> {
    this.#reading = (async () => {
      try {
        const started = this.#now();
        this.#records = await this.#source.consentsOf({});
        this.#readAt = started;
      } finally {
        this.#reading = null;
      }
    })();
    return this.#reading;
  }

  /** The consents of a patient or of a doctor (or all), as the chain had them at the last read. */
  records(filter: { patient?: string; doctor?: string } = {}): ConsentRecord[] {
    const p = filter.patient?.toLowerCase();
    const d = filter.doctor?.toLowerCase();
    return this.#records.filter(
      (r) =>
        (p === undefined || r.patient.toLowerCase() === p) &&
        (d === undefined || r.doctor.toLowerCase() === d),
    );
  }

  /**
   * Whether the doctor of `r` may have what `r` asks (core/consent-policy), on the copy; a
   * doctor unknown to the registry is refused as suspended.
   * @throws {VitalTrailError} `ledger_unavailable` when the copy is older than `maxStaleMs`
   */
  async decide(r: DataRequest): Promise<ConsentDecision> {
    const now = this.#now();
    const suspended = await this.#doctorBarred(r.doctor.toLowerCase(), now);
    if (now - this.#readAt > this.#maxStaleMs)
      throw new VitalTrailError('ledger_unavailable', 'the consents on the chain could not be read lately');
    const req = { ...r, doctor: r.doctor.toLowerCase(), patient: r.patient.toLowerCase() };
    const d = decideAccess(req, this.#records.map(termsOf), suspended);
    if (!d.allowed) return d;
    // The consent that would serve it, read again now: a revocation made since the copy's last
    // read counts at once, not after the next refresh (the access log's verifier would flag
    // an access served after it). A failed read falls back to the copy's answer.
    let fresh: ConsentRecord | null;
    try {
      fresh = await this.#source.consent(d.consent.id as `0x${string}`);
    } catch (err) {
      this.#onError(err);
      return d;
    }
    if (fresh === null) return { allowed: false, code: 'consent_required' };
    const i = this.#records.findIndex((x) => x.id.toLowerCase() === d.consent.id);
    if (i >= 0)
      this.#records[i] = {
        ...this.#records[i],
        ...fresh,
        grantTx: this.#records[i]?.grantTx ?? fresh.grantTx,
      } as ConsentRecord;
    return decideAccess(req, this.#records.map(termsOf), suspended);
  }

  /**
   * Whether the registry bars the doctor now (suspended, unknown, or not a doctor), read as
   * `decide` reads it (again when older than `refreshMs`). Break-glass asks it.
   * @throws {VitalTrailError} `ledger_unavailable` when it could not be read for `maxStaleMs`
   */
  doctorBarred(doctor: string): Promise<boolean> {
    return this.#doctorBarred(doctor.toLowerCase(), this.#now());
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #doctorBarred(doctor: string, now: number): Promise<boolean> {
    let s = this.#doctors.get(doctor);
    if (!s || now - s.at >= this.#refreshMs) {
      try {
        const c = await this.#source.clinician(doctor as `0x${string}`);
        s = { registered: c !== null && c.role === 'doctor', suspended: c?.suspended ?? true, at: now };
        this.#doctors.set(doctor, s);
      } catch (err) {
        this.#onError(err);
        if (!s || now - s.at > this.#maxStaleMs)
          throw new VitalTrailError('ledger_unavailable', "the doctor's registration could not be read");
      }
    }
    return !s.registered || s.suspended;
  }
}
