/**
 * @module io/care/clinician-bar
 * The ward team's clinicians on the chain (issue 18: "doctors and nurses are registered in the
 * consortium registry … and can be suspended; a suspended clinician loses access within 60 s
 * everywhere"). A nurse's or charge nurse's account may name a clinician id (io/identity
 * `CLINICIAN_ID_ROLES`); this gateway then reads that clinician's record in the consent
 * contract every `refreshMs` (default 10 s), and while the chain says it is suspended, unknown
 * or no nurse, the account is **barred**: `wrap(users)` shows it disabled, so its sessions end
 * (io/http/sessions `createAccountSync`, reason `disabled`) and it cannot sign in
 * (`account_disabled`), exactly as a disabled account; reinstated, it signs in again. A doctor
 * is refused per request instead (io/care `ConsentBook`), and an account without a clinician
 * id is the gateway's alone.
 *
 * While the chain cannot be read, each account keeps the state last read: the ward must keep
 * working through a chain outage, and a suspension holds from the first read after it.
 */
import type { Hex } from 'viem';
import { CLINICIAN_ID_ROLES, type User, type UserDirectory } from '../identity/index.js';
import type { ConsentSource } from './consent-book.js';
import { DEFAULT_FIRST_READ_MS, settledWithin } from './first-read.js';

export interface ClinicianBarOptions {
  users: Pick<UserDirectory, 'list'>;
  source: Pick<ConsentSource, 'clinician'>;
  /** How often the records are read again (ms). Default 10 000. */
  refreshMs?: number;
  /** Told of a failed read (the state stays). Must not throw. */
  onError?: (err: unknown) => void;
  /** Told when an account becomes barred or free again. Must not throw. */
  onChange?: (username: string, barred: boolean) => void;
  /** How long `open` waits for the first read (ms, default `DEFAULT_FIRST_READ_MS`, 3 s). */
  firstReadMs?: number;
}

export const DEFAULT_CLINICIAN_REFRESH_MS = 10_000;

export class ClinicianBar {
  readonly #o: ClinicianBarOptions;
  /** User names barred now. */
  readonly #barred = new Set<string>();
  readonly #timer: NodeJS.Timeout;
  #reading: Promise<void> | null = null;

  private constructor(o: ClinicianBarOptions) {
    this.#o = o;
    this.#timer = setInterval(() => void this.refresh(), o.refreshMs ?? DEFAULT_CLINICIAN_REFRESH_MS);
    this.#timer.unref();
  }

  /**
   * Reads every clinician account's record once (waiting for it at most `firstReadMs`; a read
   * not done by then goes on in the background), then every `refreshMs`.
   */
  static async open(o: ClinicianBarOptions): Promise<ClinicianBar> {
    const bar = new ClinicianBar(o);
    await settledWithin(bar.refresh(), o.firstReadMs ?? DEFAULT_FIRST_READ_MS);
    return bar;
  }

  /** Whether the account is barred now. */
  barred(username: string): boolean {
    return this.#barred.has(username);
  }

  /** Reads the records again (coalesced with a read under way). */
  refresh(): Promise<void> {
    this.#reading ??= (async () => {
      try {
        for (const u of this.#o.users.list()) await this.#check(u);
      } finally {
        this.#reading = null;
      }
    })();
    return this.#reading;
  }

  async #check(u: User): Promise<void> {
    const was = this.#barred.has(u.username);
    let now = false;
    if (CLINICIAN_ID_ROLES.includes(u.role) && u.subject !== undefined) {
      try {
        const c = await this.#o.source.clinician(u.subject as Hex);
        now = c === null || c.role !== 'nurse' || c.suspended;
      } catch (err) {
        this.#o.onError?.(err);
        return; // the state last read stands
      }
    }
    if (now === was) return;
    if (now) this.#barred.add(u.username);
    else this.#barred.delete(u.username);
    this.#o.onChange?.(u.username, now);
  }

  /**
   * The directory as the dashboard sees it: a barred account is disabled (listed so, found so,
   * authenticated so; `get` has it not), and the signature changes with the barred set, so the
   * sessions' account sync ends its sessions at its next check.
   */
  wrap(users: UserDirectory): UserDirectory {
    const off = (u: User): User => (this.barred(u.username) ? { ...u, disabled: true } : u);
    const overrides: Partial<UserDirectory> = {
      list: () => users.list().map(off),
      get: (name) => (this.barred(name) ? undefined : users.get(name)),
      find: (name) => {
        const u = users.find(name);
        return u && off(u);
      },
      signature: () => `${users.signature()}|${[...this.#barred].sort().join(',')}`,
      authenticate: async (...args) => {
        const u = await users.authenticate(...args);
        return u && off(u);
      },
    };
    return new Proxy(users, {
      get(target, prop) {
        if (prop in overrides) return overrides[prop as keyof UserDirectory];
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
