/**
 * @module io/clinical/alarm-service
 * The I/O shell around core/alarms and core/news2 (ARCHITECTURE.md "live bus ──▶ alarms
 * (thresholds, NEWS2) ──▶ nurse dashboard"): it follows the live hub, keeps each device's
 * latest value per vital, scores NEWS2 per patient, evaluates physiological and technical
 * alarm conditions on every reading and once a second, and publishes every alarm
 * transition and score change to the dashboard sockets (`{type:'alarm'}`,
 * `{type:'news2'}`, `{type:'ecg'}`), to the audit callback (ARCHITECTURE.md invariant 7:
 * "alarm acknowledgements") and to its own history table.
 *
 * Tables (its own, on the store's SQLite handle):
 * - `dashboard_patient_settings(dev, settings JSON, updated_by, updated_at)`: SpO2 scale,
 *   supplemental oxygen and alarm limits per bed/device. Configuration, no readings.
 * - `dashboard_alarm_events(...)`: every transition (alarm id, scope, code, kind,
 *   priority, state, time, user, comment). No vital values are written (ARCHITECTURE.md
 *   guarantee 4: no plaintext vitals at rest); values travel only on the live socket.
 *
 * The consciousness level (ACVPU) entered by a nurse is an observation, not
 * configuration: it is held in memory only, so after a restart NEWS2 is partial
 * ("consciousness not assessed") until a nurse enters it again.
 */
import { randomUUID } from 'node:crypto';
import {
  type Alarm,
  AlarmBoard,
  type AlarmLimits,
  type AlarmTransition,
  DEFAULT_LIMITS,
  DEFAULT_TECHNICAL,
  type DeviceAlarmInput,
  deviceConditions,
  gatewayConditions,
  LIMIT_VITALS,
  type LimitVital,
  type TechnicalThresholds,
} from '../../core/alarms.js';
import type { LiveHub, LiveReading } from '../../core/live.js';
import type {
  AlarmDto,
  AlarmEventDto,
  ClinicalMessage,
  LiveSnapshotExtras,
  News2Dto,
  PatientSettings,
  PatientSettingsUpdate,
} from '../../core/live-contract.js';
import { type Consciousness, news2 } from '../../core/news2.js';
import type { GatewayStore } from '../store/index.js';
import { AlarmStore } from './alarm-store.js';

/** Scope of gateway-wide technical alarms. */
export const GATEWAY_SCOPE = 'gateway';
const HISTORY_LIMIT = 500;

export type {
  AlarmDto,
  AlarmEventDto,
  News2Dto,
  PatientSettings,
  PatientSettingsUpdate,
} from '../../core/live-contract.js';
/** What the service sends to the live socket (the contract's `ClinicalMessage`). */
export type LiveMessage = ClinicalMessage;

/** What the service reports for the audit log (alarm transitions, settings changes, patient views). */
export type AlarmAuditEvent =
  | {
      type: 'alarm';
      event: string;
      alarmId: string;
      dev: string;
      code: string;
      priority: string;
      user?: string;
      at: number;
    }
  | { type: 'patient_settings'; dev: string; user: string; at: number }
  | { type: 'patient_view'; dev: string; user: string; at: number };

export interface AlarmServiceOptions {
  /** The store whose tables hold the settings and the alarm history (io/clinical/alarm-store). */
  store: GatewayStore;
  hub: LiveHub;
  /** Default Date.now. */
  now?: () => number;
  /** How often technical conditions and escalation are checked. Default 1000 ms. */
  tickMs?: number;
  /** Unacknowledged alarms escalate after this. Default 120 s (core/alarms). */
  escalateAfterMs?: number;
  /** Technical thresholds; defaults in core/alarms `DEFAULT_TECHNICAL`. */
  technical?: Partial<TechnicalThresholds>;
  /** Observations older than this are left out of NEWS2 (then partial). Default 5 min. */
  news2MaxAgeMs?: number;
  /** False while the store fails (ingest.healthy). */
  storageHealthy?: () => boolean;
  /** The anchoring outbox status, or null without a ledger. */
  anchoring?: () => { oldestPendingAgeMs: number | null } | null;
  /** MQTT clients now cooling down after the rejection limit (`ingress_throttled`). */
  throttledClients?: () => number;
  /** Every transition, settings change and patient view. Must not throw. */
  audit?: (e: AlarmAuditEvent) => void;
}

interface DeviceState {
  values: Partial<Record<LimitVital, number>>;
  seenAt: Partial<Record<LimitVital, number>>;
  lastFrameAt: number | null;
  lastSeq: number;
  bat: number | null;
  badSignatures: number[];
  news2: News2Dto | null;
}

export function alarmDto(a: Alarm): AlarmDto {
  const out: AlarmDto = {
    id: a.id,
    dev: a.scope,
    code: a.code,
    kind: a.kind,
    priority: a.priority,
    basePriority: a.basePriority,
    state: a.state,
    latched: a.latched,
    raisedAt: a.raisedAt,
    updatedAt: a.updatedAt,
    ackBy: a.ackBy,
    ackAt: a.ackAt,
    ackComment: a.ackComment,
    clearedAt: a.clearedAt,
    escalations: a.escalations,
  };
  if (a.value !== undefined) out.value = a.value;
  if (a.limit !== undefined) out.limit = a.limit;
  return out;
}

/** Merges stored limits over the defaults, so a limit added later gets its default. */
function withDefaults(limits: Partial<AlarmLimits> | undefined): AlarmLimits {
  const out = { ...DEFAULT_LIMITS } as AlarmLimits;
  for (const v of LIMIT_VITALS) {
    const l = limits?.[v];
    if (l) out[v] = { low: l.low ?? null, high: l.high ?? null };
  }
  return out;
}

/**
 * Alarms and NEWS2 for the ward served by one gateway.
 * @example
 * const alarms = new AlarmService({ store, hub, storageHealthy: () => ingest.healthy });
 * alarms.subscribe((msg) => sendToSockets(msg));
 * alarms.acknowledge(id, 'nurse.kim', 'repositioned probe');
 */
export class AlarmService {
  readonly #o: AlarmServiceOptions;
  readonly #now: () => number;
  readonly #board: AlarmBoard;
  readonly #tech: TechnicalThresholds;
  readonly #news2MaxAgeMs: number;
  readonly #devices = new Map<string, DeviceState>();
  readonly #consciousness = new Map<string, { level: Consciousness; at: number; by: string }>();
  readonly #listeners = new Set<(m: LiveMessage) => void>();
  readonly #settingsCache = new Map<string, PatientSettings>();
  readonly #timer: NodeJS.Timeout;
  readonly #unsubscribe: () => void;
  readonly #db: AlarmStore;

  /** @throws {RangeError} when `tickMs` is not a positive integer. */
  constructor(opts: AlarmServiceOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    const tickMs = opts.tickMs ?? 1000;
    if (!Number.isSafeInteger(tickMs) || tickMs <= 0)
      throw new RangeError('AlarmService: tickMs must be a positive integer');
    this.#board = new AlarmBoard({
      newId: () => randomUUID(),
      ...(opts.escalateAfterMs !== undefined ? { escalateAfterMs: opts.escalateAfterMs } : {}),
    });
    this.#tech = { ...DEFAULT_TECHNICAL, ...opts.technical };
    this.#news2MaxAgeMs = opts.news2MaxAgeMs ?? 5 * 60_000;
    this.#db = new AlarmStore(opts.store);
    this.#unsubscribe = opts.hub.subscribe((r) => this.#onReading(r));
    this.#timer = setInterval(() => this.tick(), tickMs);
    this.#timer.unref();
  }

  /** Subscribes to live messages (alarm transitions, NEWS2 changes, ECG chunks); returns the unsubscribe function. */
  subscribe(fn: (m: LiveMessage) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** What a socket needs on connect: open alarms and the current scores. */
  snapshot(): Required<LiveSnapshotExtras> {
    const scores: News2Dto[] = [];
    for (const d of this.#devices.values()) if (d.news2) scores.push(d.news2);
    return { alarms: this.openAlarms(), news2: scores };
  }

  openAlarms(dev?: string): AlarmDto[] {
    return this.#board
      .open()
      .filter((a) => dev === undefined || a.scope === dev)
      .map(alarmDto);
  }

  news2Of(dev: string): News2Dto | null {
    return this.#devices.get(dev)?.news2 ?? null;
  }

  /** The alarm history of one device (or `gateway`), newest first. */
  history(dev: string, limit = HISTORY_LIMIT): AlarmEventDto[] {
    return this.#db.history(dev, Math.min(Math.max(1, limit), HISTORY_LIMIT));
  }

  /** The id of the latest recorded alarm transition (0: none yet). */
  lastEventId(): number {
    return this.#db.lastEventId();
  }

  /** Every recorded alarm transition from event id `from` on, in order (the outbound alarm feed, io/interfaces). */
  eventsFrom(from: number, limit: number): (AlarmEventDto & { id: number })[] {
    return this.#db.eventsFrom(from, limit);
  }

  /**
   * Acknowledges an open alarm in the name of a signed-in user.
   * @throws {AlarmError} `alarm_not_found`, `alarm_not_active` (core/alarms).
   */
  acknowledge(id: string, username: string, comment: string | null): AlarmDto {
    const ts = this.#board.acknowledge(id, username, comment, this.#now());
    this.#emit(ts, comment);
    return alarmDto((ts[ts.length - 1] as AlarmTransition).alarm);
  }

  settings(dev: string): PatientSettings {
    const cached = this.#settingsCache.get(dev);
    const base = cached ?? this.#loadSettings(dev);
    if (!cached) this.#settingsCache.set(dev, base);
    const c = this.#consciousness.get(dev);
    return {
      ...base,
      consciousness: c?.level ?? null,
      consciousnessAt: c?.at ?? null,
      consciousnessBy: c?.by ?? null,
    };
  }

  /** Updates a patient's settings (validated by the route schema) and re-scores at once. */
  updateSettings(dev: string, update: PatientSettingsUpdate, username: string): PatientSettings {
    const now = this.#now();
    const cur = this.settings(dev);
    const next = {
      spo2Scale: update.spo2Scale ?? cur.spo2Scale,
      oxygen: update.oxygen ?? cur.oxygen,
      limits: withDefaults({ ...cur.limits, ...update.limits }),
    };
    this.#db.putSettingsJson(dev, JSON.stringify(next), username, now);
    this.#settingsCache.set(dev, {
      ...next,
      consciousness: null,
      consciousnessAt: null,
      consciousnessBy: null,
    });
    if (update.consciousness !== undefined && update.consciousness !== null) {
      this.#consciousness.set(dev, { level: update.consciousness, at: now, by: username });
    }
    this.#safeAudit({ type: 'patient_settings', dev, user: username, at: now });
    this.#evaluateDevice(dev, now);
    return this.settings(dev);
  }

  /** Records that a user opened a patient's view (ARCHITECTURE.md invariant 7). */
  recordView(dev: string, username: string): void {
    this.#safeAudit({ type: 'patient_view', dev, user: username, at: this.#now() });
  }

  /**
   * Counts a rejection of a device's frame; `bad_signature` ones feed the signature-failure
   * alarm, unless the frame came over the plain listener (`via` `plain`), where the device
   * name is only a claim: anyone could raise that patient's alarm with garbage.
   */
  recordReject(dev: string, code: string, via?: string): void {
    if (code !== 'bad_signature' || via === 'plain') return;
    const now = this.#now();
    const d = this.#state(dev);
    d.badSignatures.push(now);
    // Keep only the window: a device spraying forgeries cannot grow memory.
    d.badSignatures = d.badSignatures.filter((at) => now - at <= this.#tech.signatureWindowMs).slice(-1000);
    this.#evaluateDevice(dev, now);
  }

  /** Checks technical conditions and escalation now (called every `tickMs`). */
  tick(): void {
    const now = this.#now();
    try {
      for (const dev of this.#devices.keys()) this.#evaluateDevice(dev, now);
      const anchoring = this.#o.anchoring?.() ?? null;
      this.#emit(
        this.#board.evaluate(
          GATEWAY_SCOPE,
          gatewayConditions(
            {
              storageHealthy: this.#o.storageHealthy?.() ?? true,
              oldestPendingAgeMs: anchoring?.oldestPendingAgeMs ?? null,
              throttledClients: this.#o.throttledClients?.() ?? 0,
            },
            this.#tech,
          ),
          now,
        ),
      );
      this.#emit(this.#board.tick(now));
    } catch {
      // The next tick tries again; a failing history write must not stop alarms.
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#unsubscribe();
    this.#listeners.clear();
  }

  #state(dev: string): DeviceState {
    let d = this.#devices.get(dev);
    if (!d) {
      d = {
        values: {},
        seenAt: {},
        lastFrameAt: null,
        lastSeq: 0,
        bat: null,
        badSignatures: [],
        news2: null,
      };
      this.#devices.set(dev, d);
    }
    return d;
  }

  #loadSettings(dev: string): PatientSettings {
    const json = this.#db.settingsJson(dev);
    let stored: Partial<PatientSettings> = {};
    if (json !== undefined) {
      try {
        stored = JSON.parse(json) as Partial<PatientSettings>;
      } catch {
        stored = {}; // a corrupt row falls back to the defaults (safe: default limits alarm)
      }
    }
    return {
      spo2Scale: stored.spo2Scale === 2 ? 2 : 1,
      oxygen: stored.oxygen === true,
      consciousness: null,
      consciousnessAt: null,
      consciousnessBy: null,
      limits: withDefaults(stored.limits),
    };
  }

  #onReading(r: LiveReading): void {
    const d = this.#state(r.dev);
    const now = r.receivedAt;
    // A late gap-filler is older news: it does not move the latest values.
    if (r.seq > d.lastSeq) {
      d.lastSeq = r.seq;
      d.lastFrameAt = Math.max(d.lastFrameAt ?? 0, r.receivedAt);
      for (const v of LIMIT_VITALS) {
        const x = r.obs[v];
        if (typeof x === 'number') {
          d.values[v] = x;
          d.seenAt[v] = r.receivedAt;
        }
      }
      if (typeof r.bat === 'number') d.bat = r.bat;
      this.#evaluateDevice(r.dev, now);
    }
    if (r.wf && this.#listeners.size > 0) {
      const s = Buffer.from(r.wf.samples.buffer, r.wf.samples.byteOffset, r.wf.samples.byteLength);
      this.#send({ type: 'ecg', dev: r.dev, seq: r.seq, fs: r.wf.fs, s: s.toString('base64') });
    }
  }

  /** Re-scores NEWS2 (values age out after news2MaxAgeMs) and reconciles the device's alarms. */
  #evaluateDevice(dev: string, now: number): void {
    const d = this.#state(dev);
    const settings = this.settings(dev);
    const fresh = (v: LimitVital) => {
      const at = d.seenAt[v];
      return at !== undefined && now - at <= this.#news2MaxAgeMs ? d.values[v] : undefined;
    };
    const r = news2({
      rr: fresh('rr'),
      spo2: fresh('spo2'),
      temp: fresh('temp'),
      sbp: fresh('sbp'),
      hr: fresh('hr'),
      consciousness: settings.consciousness ?? undefined,
      oxygen: settings.oxygen,
      spo2Scale: settings.spo2Scale,
    });
    const prev = d.news2;
    const next: News2Dto = {
      dev,
      score: r.score,
      band: r.band,
      partial: r.partial,
      missing: r.missing,
      scores: r.scores as Record<string, number>,
      at: now,
    };
    d.news2 = next;
    if (!prev || prev.score !== next.score || prev.band !== next.band || prev.partial !== next.partial) {
      this.#send({ type: 'news2', ...next });
    }
    const input: DeviceAlarmInput = {
      values: d.values,
      seenAt: d.seenAt,
      lastFrameAt: d.lastFrameAt,
      bat: d.bat,
      badSignatures: d.badSignatures,
      news2Band: d.news2?.band ?? null,
      news2Score: d.news2?.score ?? null,
    };
    this.#emit(this.#board.evaluate(dev, deviceConditions(input, settings.limits, this.#tech, now), now));
  }

  #emit(ts: readonly AlarmTransition[], comment: string | null = null): void {
    for (const t of ts) {
      const a = t.alarm;
      try {
        this.#db.addEvent({
          alarmId: a.id,
          dev: a.scope,
          scope: a.scope,
          code: a.code,
          kind: a.kind,
          event: t.type,
          priority: a.priority,
          at: t.at,
          by: t.by ?? null,
          comment: t.type === 'acknowledged' ? comment : null,
        });
      } catch {
        // History is best effort (the store may be failing: that is itself an alarm).
      }
      this.#safeAudit({
        type: 'alarm',
        event: t.type,
        alarmId: a.id,
        dev: a.scope,
        code: a.code,
        priority: a.priority,
        ...(t.by !== undefined ? { user: t.by } : {}),
        at: t.at,
      });
      this.#send({ type: 'alarm', event: t.type, alarm: alarmDto(a) });
    }
  }

  #send(m: LiveMessage): void {
    for (const fn of this.#listeners) {
      try {
        fn(m);
      } catch {
        // A broken listener must never affect ingest.
      }
    }
  }

  #safeAudit(e: AlarmAuditEvent): void {
    try {
      this.#o.audit?.(e);
    } catch {
      // The audit callback must not throw; if it does, alarms go on.
    }
  }
}
