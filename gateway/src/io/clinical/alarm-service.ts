/**
 * @module io/clinical/alarm-service
 * The I/O shell around core/alarms and core/news2 (ARCHITECTURE.md "live bus ──▶ alarms
 * (thresholds, NEWS2) ──▶ nurse dashboard"): it follows the live hub, keeps each device's
 * latest value per vital (io/clinical/device-state), scores NEWS2 per patient, evaluates
 * physiological and technical alarm conditions on every reading and once a second (a pass
 * over the ward in slices of a few ms, io/clinical/ward-sweep), and
 * publishes every alarm transition, score change and tile state to the dashboard sockets,
 * to the audit callback (ARCHITECTURE.md invariant 7) and to the alarm history.
 *
 * Alarm fatigue (issue 15, after IEC 60601-1-8 and the AAMI/The Joint Commission
 * guidance): limit conditions go through each device's filter (core/alarms/vital-filter)
 * and episodes (core/alarms/board); a bed in standby has no alarms at all; a revoked device
 * raises `device_revoked`, not `device_offline`. Other parts of the gateway add conditions by
 * scope (`scopedConditions`: a patient's record opened by break-glass, io/care/break-glass-alarms).
 *
 * History and settings: a lone gateway's in its store (io/clinical/alarm-store; no vital
 * values at rest, ARCHITECTURE.md guarantee 4); a group's in its database (`group`:
 * io/clinical/alarm-group decides and audits each transition once). ACVPU is held in memory.
 */
import { randomUUID } from 'node:crypto';
import {
  AlarmBoard,
  type AlarmTransition,
  alarmDto,
  alarmsOff,
  checkAlarmSettings,
  DEFAULT_NEWS2_TRIGGER,
  DEFAULT_POLICIES,
  DEFAULT_TECHNICAL,
  deviceConditions,
  gatewayConditions,
  limitVitalOf,
  mergePolicies,
  type News2TriggerPolicy,
  type TechnicalThresholds,
} from '../../core/alarms/index.js';
import type { LiveReading } from '../../core/live.js';
import type {
  AlarmDto,
  AlarmEventDto,
  ClinicalMessage,
  LiveSnapshotExtras,
  News2Dto,
  PatientSettings,
  PatientSettingsUpdate,
  StandbyDto,
  StandbyRequest,
  TileStateDto,
} from '../../core/live-contract.js';
import { AlarmGroup } from './alarm-group.js';
import { AlarmHistory } from './alarm-history.js';
import { GATEWAY_SCOPE } from './alarm-ledger.js';
import {
  type AlarmServiceOptions,
  auditOf,
  gatewayHealthOf,
  revokedOf,
  scopedOf,
} from './alarm-service-options.js';
import { AlarmStore } from './alarm-store.js';
import {
  type DeviceState,
  newDeviceState,
  noteBadSignature,
  scoreNews2,
  takeReading,
} from './device-state.js';
import { PatientSettingsBook } from './patient-settings.js';
import { type SweepPass, WardSweep } from './ward-sweep.js';

const HISTORY_LIMIT = 500;
/** The longest pause a nurse may set (minutes: 24 h). */
export const MAX_STANDBY_MINUTES = 1440;

export type { PatientSettingsUpdate, StandbyRequest, TileStateDto } from '../../core/live-contract.js';
export type { AlarmAuditEvent, AlarmServiceOptions } from './alarm-service-options.js';
/** What the service sends to the live socket (the contract's `ClinicalMessage`). */
export type LiveMessage = ClinicalMessage;

/**
 * Alarms and NEWS2 for the ward served by one gateway (or by its group).
 * @example
 * const alarms = new AlarmService({ store, hub, storageHealthy: () => ingest.healthy });
 * alarms.subscribe((msg) => sendToSockets(msg)); await alarms.acknowledge(id, 'nurse.kim', null);
 */
export class AlarmService {
  readonly #o: AlarmServiceOptions;
  readonly #now: () => number;
  readonly #board: AlarmBoard;
  readonly #tech: TechnicalThresholds;
  readonly #news2MaxAgeMs: number;
  readonly #news2Trigger: News2TriggerPolicy;
  readonly #devices = new Map<string, DeviceState>();
  readonly #listeners = new Set<(m: LiveMessage) => void>();
  readonly #timer: NodeJS.Timeout;
  readonly #unsubscribe: () => void;
  readonly #db: AlarmStore;
  readonly #book: PatientSettingsBook;
  readonly #group: AlarmGroup | null;
  readonly #history: AlarmHistory;
  /** The timer's pass over the ward, in slices (its progress: `running`, `stats`). */
  readonly sweep: WardSweep;

  /**
   * @throws {RangeError} when `tickMs` is not a positive integer, or a ward policy is not an
   *   integer within core/alarms `POLICY_BOUNDS`.
   */
  constructor(opts: AlarmServiceOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    const tickMs = opts.tickMs ?? 1000;
    if (!(Number.isSafeInteger(tickMs) && tickMs > 0))
      throw new RangeError('AlarmService: tickMs must be a positive integer');
    const ward = mergePolicies(DEFAULT_POLICIES, opts.policies);
    const check = checkAlarmSettings({ policies: ward });
    if (!check.ok) throw new RangeError(`AlarmService: policies out of bounds (${check.field})`);
    this.#board = new AlarmBoard({
      newId: () => randomUUID(),
      episodeGapMs: (scope, code) => this.#episodeGapMs(scope, code),
      ...(opts.escalateAfterMs !== undefined ? { escalateAfterMs: opts.escalateAfterMs } : {}),
      ownLedger: opts.group?.alone === true,
    });
    this.#tech = { ...DEFAULT_TECHNICAL, ...opts.technical };
    this.#news2MaxAgeMs = opts.news2MaxAgeMs ?? 5 * 60_000;
    this.#news2Trigger = opts.news2Trigger ?? DEFAULT_NEWS2_TRIGGER;
    this.#db = new AlarmStore(opts.store);
    // A patient's settings or ACVPU changed on another gateway; a standby begun or ended there
    // is applied (its alarms end) and audited here as one begun or ended here would be.
    this.#book = new PatientSettingsBook(opts.group?.settings ?? this.#db, ward, (dev, before) => {
      this.#devices.get(dev)?.filter.setPolicies(this.settings(dev).policies);
      const [after, at] = [this.#book.standby(dev), this.#now()];
      if (after && !before) this.#emit(this.#board.clearScope(dev, at));
      const by = after?.by ? { user: after.by } : {};
      const reason = (after ?? before)?.reason;
      if (reason && after?.reason !== before?.reason)
        auditOf(this.#o, { type: 'standby', dev, ...by, on: after !== null, reason, at });
      this.#sendTile(dev);
      this.#evaluateDevice(dev, this.#now());
    });
    this.#history = new AlarmHistory(this.#db, opts.group);
    const publish = (t: AlarmTransition, r: boolean, c: string | null) => this.#publish(t, r, c);
    const g = opts.group;
    this.#group = g ? new AlarmGroup({ ...g, board: this.#board, now: this.#now, publish }) : null;
    this.#unsubscribe = opts.hub.subscribe((r) => this.#onReading(r));
    this.sweep = new WardSweep({ begin: (now) => this.#beginPass(now), now: this.#now });
    this.#timer = setInterval(() => this.sweep.request(), tickMs);
    this.#timer.unref();
  }

  /** In a group: takes the group's open alarms and follows its decisions. @throws {SharedStateError} */
  join = async (): Promise<void> => this.#group?.start();

  /** Subscribes to live messages (alarms, NEWS2, ECG chunks, tile states); returns the unsubscribe. */
  subscribe(fn: (m: LiveMessage) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** What a socket needs on connect: open alarms, the current scores and every tile's state. */
  snapshot(): Required<LiveSnapshotExtras> {
    const scores: News2Dto[] = [];
    for (const d of this.#devices.values()) if (d.news2) scores.push(d.news2);
    const devs = new Set([
      ...this.#o.hub.snapshot().map((t) => t.dev),
      ...this.#devices.keys(),
      ...this.#book.devices(),
    ]);
    devs.delete(GATEWAY_SCOPE);
    return {
      alarms: this.openAlarms(),
      news2: scores,
      tileStates: [...devs].sort().map((dev) => this.tileState(dev)),
    };
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

  /** The alarm history of one device (or `gateway`), newest first (io/clinical/alarm-history). */
  history(dev: string, limit = HISTORY_LIMIT): Promise<AlarmEventDto[]> {
    return this.#history.of(dev, Math.min(Math.max(1, limit), HISTORY_LIMIT));
  }

  /** The id of the latest recorded alarm transition (0: none yet). */
  lastEventId(): Promise<number> {
    return this.#history.lastEventId();
  }

  /** Every recorded transition from event id `from` on, in order (the outbound alarm feed). */
  eventsFrom(from: number, limit: number): Promise<(AlarmEventDto & { id: number; gateway?: string })[]> {
    return this.#history.eventsFrom(from, limit);
  }

  /**
   * Waits until the settings and standby changes made here are in the group's database (a
   * lone gateway's are stored at once).
   * @throws {SharedStateError} `shared_unavailable` (the change is undone at the next reload)
   */
  async settingsSaved(): Promise<void> {
    await this.#o.group?.settings?.flush();
  }

  /**
   * Acknowledges an open alarm in the name of a signed-in user (in a group: for the group).
   * @throws {AlarmError} `alarm_not_found`, `alarm_not_active` (core/alarms).
   */
  async acknowledge(id: string, username: string, comment: string | null): Promise<AlarmDto> {
    if (this.#group) return alarmDto((await this.#group.acknowledge(id, username, comment)).alarm);
    const ts = this.#board.acknowledge(id, username, comment, this.#now());
    this.#emit(ts, comment);
    return alarmDto((ts[ts.length - 1] as AlarmTransition).alarm);
  }

  settings(dev: string): PatientSettings {
    return this.#book.settings(dev);
  }

  /**
   * Updates a patient's settings and re-evaluates at once. Limits and policies are checked
   * (core/alarms/validation); a refused change stores nothing.
   * @throws {AlarmError} `limits_invalid`: a low limit at or above the high one, a limit
   *   outside the vital's physiological range, a policy value out of bounds or not an integer.
   */
  updateSettings(dev: string, update: PatientSettingsUpdate, username: string): PatientSettings {
    const now = this.#now();
    const s = this.#book.update(dev, update, username, now);
    this.#devices.get(dev)?.filter.setPolicies(s.policies);
    auditOf(this.#o, { type: 'patient_settings', dev, user: username, at: now });
    this.#sendTile(dev);
    this.#evaluateDevice(dev, now);
    return this.settings(dev);
  }

  /** What a device's tile shows besides its readings (core/live-contract `TileStateDto`). */
  tileState(dev: string): TileStateDto {
    const limits = this.#book.settings(dev).limits;
    return {
      dev,
      limits,
      alarmsOff: alarmsOff(limits),
      standby: this.#book.standby(dev),
      revoked: revokedOf(this.#o, dev),
    };
  }

  /**
   * A nurse puts a bed in standby (`on`: paused, for `minutes` or until ended) or ends it.
   * In standby the device has no alarms at all: its open ones clear at once. A discharged
   * bed stays in standby until its next admission (`on` changes nothing); `off` ends any standby.
   * @throws {RangeError} when `minutes` is not an integer from 1 to `MAX_STANDBY_MINUTES`.
   * @throws {VitalTrailError} `store_failed` when the change cannot be stored.
   */
  standby(dev: string, req: StandbyRequest, user: string): TileStateDto {
    const m = req.minutes;
    if (m !== undefined && (!Number.isSafeInteger(m) || m < 1 || m > MAX_STANDBY_MINUTES)) {
      throw new RangeError(
        `AlarmService.standby: minutes must be an integer from 1 to ${MAX_STANDBY_MINUTES}`,
      );
    }
    const now = this.#now();
    const cur = this.#book.standby(dev);
    if (req.on && cur?.reason !== 'discharged') {
      const until = m !== undefined ? now + m * 60_000 : null;
      this.#setStandby(dev, { reason: 'paused', since: now, by: user, until }, user, now, false);
    } else if (!req.on && cur) {
      this.#setStandby(dev, null, user, now, false);
    }
    return this.tileState(dev);
  }

  /**
   * The device's patient was discharged: standby (`discharged`) until the next admission;
   * its alarms clear (`device_offline` included) and its limit filter forgets the patient.
   */
  discharged(dev: string, user: string): TileStateDto {
    const now = this.#now();
    if (this.#book.standby(dev)?.reason !== 'discharged') {
      this.#setStandby(dev, { reason: 'discharged', since: now, by: user, until: null }, user, now, true);
    }
    this.#devices.get(dev)?.filter.reset();
    return this.tileState(dev);
  }

  /** A patient was admitted on the device: any standby ends. */
  admitted(dev: string, user?: string): TileStateDto {
    const now = this.#now();
    if (this.#book.standby(dev)) this.#setStandby(dev, null, user, now, true);
    return this.tileState(dev);
  }

  /** Records that a user opened a patient's view (ARCHITECTURE.md invariant 7). */
  recordView(dev: string, username: string): void {
    auditOf(this.#o, { type: 'patient_view', dev, user: username, at: this.#now() });
  }

  /**
   * Counts a rejection; `bad_signature` feeds the signature-failure alarm, unless it came over
   * the plain listener (`via` `plain`: the device name is only a claim there).
   */
  recordReject(dev: string, code: string, via?: string): void {
    if (code !== 'bad_signature' || via === 'plain') return;
    const now = this.#now();
    noteBadSignature(this.#state(dev), now, this.#tech.signatureWindowMs);
    this.#evaluateDevice(dev, now);
  }

  /** The timer's pass (`sweep`) in one go, now: pauses that ran out, every bed, escalation. */
  tick(): void {
    const now = this.#now();
    try {
      const pass = this.#beginPass(now);
      for (const dev of pass.beds) pass.visit(dev, now);
      pass.finish(now);
    } catch {
      // The next tick tries again; a failing history write must not stop alarms.
    }
  }

  stop(): void {
    this.sweep.stop();
    this.#group?.stop();
    this.#book.close();
    clearInterval(this.#timer);
    this.#unsubscribe();
    this.#listeners.clear();
  }

  #state(dev: string): DeviceState {
    let d = this.#devices.get(dev);
    if (!d) {
      d = newDeviceState(this.#book.settings(dev).policies, this.#tech.signalLossAfterMs, this.#news2Trigger);
      d.revoked = revokedOf(this.#o, dev);
      this.#devices.set(dev, d);
    }
    return d;
  }

  /** A limit alarm re-opens within its vital's episode gap, `news2` within the NEWS2 trigger's; others never do. */
  #episodeGapMs(scope: string, code: string): number {
    if (code === 'news2' && scope !== GATEWAY_SCOPE) return this.#news2Trigger.episodeGapSeconds * 1000;
    const v = limitVitalOf(code);
    return v === null || scope === GATEWAY_SCOPE
      ? 0
      : this.#book.settings(scope).policies[v].episodeGapSeconds * 1000;
  }

  /**
   * Sets or ends (null) a device's standby: stored, its alarms cleared (on), audited, the
   * tile state sent, and re-evaluated (off). `user` is absent when a pause ran out.
   */
  #setStandby(
    dev: string,
    next: StandbyDto | null,
    user: string | undefined,
    now: number,
    bestEffort: boolean,
  ): void {
    const prev = this.#book.standby(dev);
    const reason = (next ?? prev)?.reason;
    if (reason === undefined) return;
    this.#book.setStandby(dev, next, user, now, bestEffort);
    if (next) {
      const cleared = this.#board.clearScope(dev, now);
      this.#devices.get(dev)?.news2Trigger.reset(); // after standby the score's alarm starts afresh
      this.#emit(user === undefined ? cleared : cleared.map((t) => ({ ...t, by: user })));
    }
    auditOf(this.#o, {
      type: 'standby',
      dev,
      ...(user !== undefined ? { user } : {}),
      on: next !== null,
      reason,
      at: now,
    });
    this.#sendTile(dev);
    if (!next && this.#devices.has(dev)) this.#evaluateDevice(dev, now);
  }

  #onReading(r: LiveReading): void {
    const d = this.#state(r.dev);
    if (takeReading(d, r)) this.#evaluateDevice(r.dev, r.receivedAt);
    if (r.wf && this.#listeners.size > 0) {
      const s = Buffer.from(r.wf.samples.buffer, r.wf.samples.byteOffset, r.wf.samples.byteLength);
      this.#send({ type: 'ecg', dev: r.dev, seq: r.seq, fs: r.wf.fs, s: s.toString('base64') });
    }
  }

  /**
   * Re-scores NEWS2 (values age out after news2MaxAgeMs), notes a change of revocation, and
   * reconciles the device's alarms, unless it is in standby (then it has none).
   */
  #evaluateDevice(dev: string, now: number, scoped = scopedOf(this.#o, now)): void {
    const d = this.#state(dev);
    const settings = this.settings(dev);
    const prev = d.news2;
    const next = scoreNews2(dev, d, settings, now, this.#news2MaxAgeMs);
    d.news2 = next;
    if (!prev || prev.score !== next.score || prev.band !== next.band || prev.partial !== next.partial) {
      this.#send({ type: 'news2', ...next });
    }
    // Always evaluated, so a breach is timed from its first reading, standby or not.
    const limitConditions = d.filter.evaluate(settings.limits, now);
    const news2Priority = d.news2Trigger.updateBand(next.band, now);
    const revoked = revokedOf(this.#o, dev);
    if (revoked !== d.revoked) {
      d.revoked = revoked;
      this.#sendTile(dev);
    }
    const standby = this.#book.standby(dev);
    if (standby?.until != null && standby.until <= now) {
      this.#setStandby(dev, null, undefined, now, true); // re-evaluates without the pause
      return;
    }
    if (standby) return;
    const conditions = deviceConditions(
      {
        values: d.values,
        seenAt: d.seenAt,
        lastFrameAt: d.lastFrameAt,
        bat: d.bat,
        badSignatures: d.badSignatures,
        news2Band: next.band,
        news2Score: next.score,
        news2Priority,
        limitConditions,
        revoked,
      },
      settings.limits,
      this.#tech,
      now,
    );
    this.#emit(this.#board.evaluate(dev, [...conditions, ...(scoped.get(dev) ?? [])], now));
  }

  /**
   * A pass over the ward at `now`: pauses that ran out end; then each bed (with the conditions
   * raised elsewhere as they stood at `now`); then the gateway's own line and escalation.
   */
  #beginPass(now: number): SweepPass {
    for (const dev of this.#book.devices()) {
      const until = this.#book.standby(dev)?.until;
      if (until != null && until <= now) this.#setStandby(dev, null, undefined, now, true);
    }
    const scoped = scopedOf(this.#o, now);
    // A device whose only condition is raised elsewhere (a bed never heard since the start).
    for (const dev of scoped.keys()) if (dev !== GATEWAY_SCOPE) this.#state(dev);
    return {
      beds: [...this.#devices.keys()],
      visit: (dev, at) => this.#evaluateDevice(dev, at, scoped),
      finish: (at) => {
        const gateway = gatewayConditions(gatewayHealthOf(this.#o), this.#tech);
        const own = scopedOf(this.#o, at).get(GATEWAY_SCOPE) ?? [];
        this.#emit(this.#board.evaluate(GATEWAY_SCOPE, [...gateway, ...own], at));
        this.#emit(this.#board.tick(at));
      },
    };
  }

  #emit(ts: readonly AlarmTransition[], comment: string | null = null): void {
    if (this.#group) this.#group.submit(ts, comment);
    else for (const t of ts) this.#publish(t, true, comment);
  }

  /** Shows a transition; `recorded`: this gateway decided it (history, audit). */
  #publish(t: AlarmTransition, recorded: boolean, comment: string | null): void {
    const a = t.alarm;
    const ack = t.type === 'acknowledged' ? comment : null;
    if (recorded && !this.#group) this.#history.recordAlone(t, ack);
    if (recorded) {
      const e = { alarmId: a.id, dev: a.scope, code: a.code, priority: a.priority, at: t.at };
      auditOf(this.#o, { type: 'alarm', event: t.type, ...e, ...(t.by !== undefined ? { user: t.by } : {}) });
    }
    this.#send({ type: 'alarm', event: t.type, alarm: alarmDto(a) });
  }

  #sendTile(dev: string): void {
    if (this.#listeners.size > 0) this.#send({ type: 'tile-state', ...this.tileState(dev) });
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
}
