/**
 * @module core/alarms/news2-trigger
 * The NEWS2 alarm of one patient, sustained (issue 15, alarm fatigue). A continuous score
 * moves with every reading: a heart rate jumping across 130/min takes the single-parameter
 * score to 3 and back many times a minute, and the first wave raised and cleared a `news2`
 * alarm with each jump (about 150 in half an hour on the demo ward, `npm run bench:alarms`).
 * An early-warning score is a trend tool (RCP 2017: it prompts a clinical response, it is
 * not a beat-to-beat alarm), so its alarm follows the band only once the band has held:
 * - up: the band's alarm priority must hold (or be higher) for `raiseSeconds`;
 * - down or off: the lower band must hold for `clearSeconds`;
 * - a new trigger within `episodeGapSeconds` after the alarm ended re-opens it (core/alarms/board).
 * The score itself (tile badge, patient view) stays live; only its alarm waits.
 * Pure and clock-free: the shell calls `update` with the time now.
 */

import type { News2Band } from '../news2.js';
import { NEWS2_PRIORITY } from './limits.js';
import type { AlarmPriority } from './model.js';
import { priorityRank } from './model.js';

export interface News2TriggerPolicy {
  /** A higher band must hold this long before its alarm is raised or escalated. */
  raiseSeconds: number;
  /** A lower band (or none) must hold this long before the alarm steps down or ends. */
  clearSeconds: number;
  /** A trigger within this long after the alarm ended re-opens that alarm. */
  episodeGapSeconds: number;
}

/** Defaults (README "Alarm defaults"): half a minute up, two minutes down, one episode per 10 minutes. */
export const DEFAULT_NEWS2_TRIGGER: Readonly<News2TriggerPolicy> = {
  raiseSeconds: 30,
  clearSeconds: 120,
  episodeGapSeconds: 600,
};

/** The first wave's NEWS2 alarm (it followed every change of band at once): the "before" of `bench:alarms`. */
export const INSTANT_NEWS2_TRIGGER: Readonly<News2TriggerPolicy> = {
  raiseSeconds: 0,
  clearSeconds: 0,
  episodeGapSeconds: 0,
};

const rankOf = (p: AlarmPriority | null) => (p === null ? -1 : priorityRank(p));

/**
 * The NEWS2 alarm priority of one patient over time.
 * @example
 * const t = new News2Trigger(DEFAULT_NEWS2_TRIGGER);
 * t.update('medium', 0); // null: not held yet
 * t.update('medium', 30_000); // 'medium'
 */
export class News2Trigger {
  readonly #policy: News2TriggerPolicy;
  #shown: AlarmPriority | null = null;
  #pending: { up: boolean; since: number } | null = null;

  constructor(policy: News2TriggerPolicy) {
    this.#policy = policy;
  }

  /** The priority of the `news2` alarm now, from the band's priority now (`NEWS2_PRIORITY`). */
  update(target: AlarmPriority | null, now: number): AlarmPriority | null {
    if (target === this.#shown) {
      this.#pending = null;
      return this.#shown;
    }
    const up = rankOf(target) > rankOf(this.#shown);
    if (this.#pending?.up !== up) this.#pending = { up, since: now };
    const waitMs = (up ? this.#policy.raiseSeconds : this.#policy.clearSeconds) * 1000;
    if (now - this.#pending.since >= waitMs) {
      this.#shown = target;
      this.#pending = null;
    }
    return this.#shown;
  }

  /** As `update`, from a NEWS2 band (null: no score). */
  updateBand(band: News2Band | null, now: number): AlarmPriority | null {
    return this.update(band === null ? null : NEWS2_PRIORITY[band], now);
  }

  /** Forgets the state (standby, a new patient). */
  reset(): void {
    this.#shown = null;
    this.#pending = null;
  }
}
