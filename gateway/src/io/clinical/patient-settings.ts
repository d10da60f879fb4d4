/**
 * @module io/clinical/patient-settings
 * Each bed/device's clinical configuration, as the alarm service reads and changes it: SpO2
 * scale, supplemental oxygen, alarm limits, alarm-fatigue policies (issue 15) and standby,
 * persisted as one JSON row per device in `dashboard_patient_settings`
 * (io/clinical/alarm-store), cached in memory; and the consciousness level (ACVPU), an
 * observation held in memory only (after a restart NEWS2 is partial until a nurse enters
 * it again).
 *
 * A row stores the limits whole and the policies as the patient's own overrides, merged
 * over the ward's policies (core/alarms DEFAULT_POLICIES, or the service's `policies`)
 * when read. A row that does not parse, or a stored policy out of bounds, falls back to
 * the defaults (safe: default limits alarm).
 */
import {
  AlarmError,
  type AlarmLimits,
  type AlarmPolicies,
  type AlarmPoliciesUpdate,
  checkAlarmSettings,
  DEFAULT_LIMITS,
  LIMIT_VITALS,
  mergePolicies,
  POLICY_FIELDS,
} from '../../core/alarms/index.js';
import type { PatientSettings, PatientSettingsUpdate, StandbyDto } from '../../core/live-contract.js';
import type { Consciousness } from '../../core/news2.js';
import type { PatientSettingsRows, SharedPatientSettings } from './settings-rows.js';

/** The JSON of a settings row (every field optional: older rows lack the newer ones). */
interface StoredSettings {
  spo2Scale?: unknown;
  oxygen?: unknown;
  limits?: Partial<AlarmLimits>;
  policies?: AlarmPoliciesUpdate;
  standby?: unknown;
}

/** The configuration of one device, as cached. */
interface DeviceSettings {
  spo2Scale: 1 | 2;
  oxygen: boolean;
  limits: AlarmLimits;
  /** The patient's own policy fields. */
  overrides: AlarmPoliciesUpdate;
  /** `overrides` merged over the ward's, once (the ward's own object when there are none). */
  policies: Readonly<AlarmPolicies>;
  standby: StandbyDto | null;
}

/** Who writes a row when no user did (a pause that ended by itself). */
const SYSTEM_USER = 'gateway';

/**
 * Freezes `o` and the objects it holds (one level): the settings a device without a row of
 * its own reads are one object shared by every such device (10,000 devices kept a copy
 * each: issue 14's memory bench), so nothing may change them in place.
 */
function frozen<T extends object>(o: T): Readonly<T> {
  for (const x of Object.values(o)) if (typeof x === 'object' && x !== null) Object.freeze(x);
  return Object.freeze(o);
}

/** The default limits, shared by every device that has no limits of its own. */
const SHARED_DEFAULT_LIMITS: Readonly<AlarmLimits> = frozen(structuredClone(DEFAULT_LIMITS) as AlarmLimits);

/** Merges stored limits over the defaults, so a limit added later gets its default. */
function withDefaults(limits: Partial<AlarmLimits> | undefined): AlarmLimits {
  if (!LIMIT_VITALS.some((v) => limits?.[v])) return SHARED_DEFAULT_LIMITS;
  const out = { ...SHARED_DEFAULT_LIMITS } as AlarmLimits;
  for (const v of LIMIT_VITALS) {
    const l = limits?.[v];
    if (l) out[v] = { low: l.low ?? null, high: l.high ?? null };
  }
  return frozen(out);
}

function standbyOf(x: unknown): StandbyDto | null {
  if (typeof x !== 'object' || x === null) return null;
  const s = x as Partial<StandbyDto>;
  if (s.reason !== 'discharged' && s.reason !== 'paused') return null;
  if (typeof s.since !== 'number') return null;
  return {
    reason: s.reason,
    since: s.since,
    by: typeof s.by === 'string' ? s.by : null,
    until: typeof s.until === 'number' ? s.until : null,
  };
}

/** Merges a change of policy fields into the stored overrides (a fresh object). */
function mergeOverrides(
  cur: AlarmPoliciesUpdate,
  update: AlarmPoliciesUpdate | undefined,
): AlarmPoliciesUpdate {
  const out: AlarmPoliciesUpdate = {};
  for (const v of LIMIT_VITALS) {
    const merged = { ...cur[v], ...update?.[v] };
    const kept = Object.fromEntries(POLICY_FIELDS.filter((f) => f in merged).map((f) => [f, merged[f]]));
    if (Object.keys(kept).length > 0) out[v] = kept;
  }
  return out;
}

/**
 * The settings of the ward's devices.
 * @example
 * const book = new PatientSettingsBook(new AlarmStore(store), DEFAULT_POLICIES);
 * book.update('wr-0001', { limits: { hr: { low: 45, high: 140 } } }, 'charge.lee', Date.now());
 */
export class PatientSettingsBook {
  readonly #db: PatientSettingsRows;
  readonly #ward: Readonly<AlarmPolicies>;
  /** The record of a device without a row of its own, shared by all of them. */
  readonly #defaults: Readonly<DeviceSettings>;
  readonly #cache = new Map<string, DeviceSettings>();
  readonly #consciousness = new Map<string, { level: Consciousness; at: number; by: string }>();
  readonly #shared: SharedPatientSettings | null;
  readonly #unsubscribe: (() => void)[] = [];

  /**
   * @param ward the ward's policies, under every patient's own.
   * @param changedElsewhere with a group's shared rows: told of each device whose settings
   *   another gateway changed or whose ACVPU it entered (the book already holds the change),
   *   with the standby it had before.
   */
  constructor(
    db: PatientSettingsRows | SharedPatientSettings,
    ward: AlarmPolicies,
    changedElsewhere?: (dev: string, standbyBefore: StandbyDto | null) => void,
  ) {
    this.#db = db;
    this.#ward = frozen(mergePolicies(ward));
    this.#defaults = Object.freeze({
      spo2Scale: 1,
      oxygen: false,
      limits: SHARED_DEFAULT_LIMITS,
      overrides: Object.freeze({}),
      policies: this.#ward,
      standby: null,
    });
    this.#shared = 'flush' in db ? db : null;
    if (this.#shared) {
      const tell = (dev: string, before = this.standby(dev)) => changedElsewhere?.(dev, before);
      this.#unsubscribe.push(
        this.#shared.onChange((dev) => {
          const before = this.#cache.get(dev)?.standby ?? null;
          this.#cache.delete(dev);
          tell(dev, before);
        }),
        this.#shared.onConsciousness((e) => {
          if ((this.#consciousness.get(e.dev)?.at ?? -1) > e.at) return; // an older entry
          this.#consciousness.set(e.dev, { level: e.level, at: e.at, by: e.by });
          tell(e.dev);
        }),
      );
    }
  }

  /** Stops following the group's changes. */
  close(): void {
    for (const u of this.#unsubscribe) u();
  }

  /** A device's settings, its policies merged over the ward's. */
  settings(dev: string): PatientSettings {
    const r = this.#record(dev);
    const c = this.#consciousness.get(dev);
    return {
      spo2Scale: r.spo2Scale,
      oxygen: r.oxygen,
      consciousness: c?.level ?? null,
      consciousnessAt: c?.at ?? null,
      consciousnessBy: c?.by ?? null,
      limits: r.limits,
      policies: r.policies,
    };
  }

  /**
   * Checks, stores and applies a change (ACVPU in memory only). Nothing is stored when
   * the change is refused.
   * @throws {AlarmError} `limits_invalid` (core/alarms/validation).
   */
  update(dev: string, update: PatientSettingsUpdate, username: string, now: number): PatientSettings {
    const verdict = checkAlarmSettings(update);
    if (!verdict.ok) throw new AlarmError(verdict.code, `refused alarm setting ${verdict.field}`);
    const cur = this.#record(dev);
    const overrides = mergeOverrides(cur.overrides, update.policies);
    const next: DeviceSettings = {
      ...cur,
      spo2Scale: update.spo2Scale ?? cur.spo2Scale,
      oxygen: update.oxygen ?? cur.oxygen,
      limits: withDefaults({ ...cur.limits, ...update.limits }),
      overrides,
      policies: this.#policiesOf(overrides),
    };
    this.#write(dev, next, username, now);
    if (update.consciousness !== undefined && update.consciousness !== null) {
      this.#consciousness.set(dev, { level: update.consciousness, at: now, by: username });
      this.#shared?.shareConsciousness({ dev, level: update.consciousness, at: now, by: username });
    }
    return this.settings(dev);
  }

  standby(dev: string): StandbyDto | null {
    return this.#record(dev).standby;
  }

  /**
   * Sets or ends (null) a device's standby: stored, then applied. With `bestEffort`, a
   * failing store does not stop it (the device's alarms must follow a discharge even so).
   * @throws {VitalTrailError} `store_failed` from the store, unless `bestEffort`.
   */
  setStandby(
    dev: string,
    standby: StandbyDto | null,
    username: string | undefined,
    now: number,
    bestEffort = false,
  ): void {
    const next: DeviceSettings = { ...this.#record(dev), standby };
    try {
      this.#write(dev, next, username ?? SYSTEM_USER, now);
    } catch (err) {
      if (!bestEffort) throw err;
      this.#cache.set(dev, next);
    }
  }

  /** Devices with a stored row or a cached record (their standby may need the clock). */
  devices(): string[] {
    return [...this.#cache.keys()];
  }

  #write(dev: string, r: DeviceSettings, username: string, now: number): void {
    const json = {
      spo2Scale: r.spo2Scale,
      oxygen: r.oxygen,
      limits: r.limits,
      policies: r.overrides,
      ...(r.standby ? { standby: r.standby } : {}),
    };
    this.#db.putSettingsJson(dev, JSON.stringify(json), username, now);
    this.#cache.set(dev, r);
  }

  #record(dev: string): DeviceSettings {
    const hit = this.#cache.get(dev);
    if (hit) return hit;
    const r = this.#load(dev);
    this.#cache.set(dev, r);
    return r;
  }

  /** The ward's policies under `overrides` (the ward's own object when there are none). */
  #policiesOf(overrides: AlarmPoliciesUpdate): Readonly<AlarmPolicies> {
    return Object.keys(overrides).length === 0 ? this.#ward : frozen(mergePolicies(this.#ward, overrides));
  }

  #load(dev: string): DeviceSettings {
    const json = this.#db.settingsJson(dev);
    if (json === undefined) return this.#defaults;
    let stored: StoredSettings = {};
    try {
      const parsed: unknown = JSON.parse(json);
      if (typeof parsed === 'object' && parsed !== null) stored = parsed as StoredSettings;
    } catch {
      stored = {}; // a corrupt row falls back to the defaults (safe: default limits alarm)
    }
    const overrides =
      typeof stored.policies === 'object' &&
      stored.policies !== null &&
      checkAlarmSettings({ policies: stored.policies }).ok
        ? mergeOverrides({}, stored.policies)
        : {};
    return {
      spo2Scale: stored.spo2Scale === 2 ? 2 : 1,
      oxygen: stored.oxygen === true,
      limits: withDefaults(stored.limits),
      overrides,
      policies: this.#policiesOf(overrides),
      standby: standbyOf(stored.standby),
    };
  }
}
