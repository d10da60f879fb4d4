/**
 * @module core/health
 * What the gateway's health endpoints say (io/http: `GET /readyz`, `GET /healthz`), decided
 * from the state of its parts. Pure: the app steps read the parts and call these.
 *
 * Anchoring (ARCHITECTURE.md guarantee 5) is degraded when it is not making progress:
 * - `ledger_unavailable`: the embedded chain's node is down (its watchdog is restarting it,
 *   io/anchoring/chain-watchdog), or the anchorer's last attempt found the JSON-RPC endpoint
 *   silent (cleared by its next successful round);
 * - `anchoring_stalled`: the oldest checkpoint waiting in the outbox is older than the stall
 *   threshold (the ledger answers but refuses, or anchoring falls ever further behind) and no
 *   checkpoint was anchored within that threshold either: a backlog that drains (the first
 *   start with a ledger after a period without one, io/anchoring/checkpointer) is progress.
 *
 * A gateway without a ledger is `off`, never degraded: it still cuts signed checkpoints into
 * the outbox, which are anchored once it runs with a ledger; running without one is a
 * deliberate configuration, not a fault.
 *
 * Frames are still accepted, stored and acknowledged while anchoring is degraded: the outbox
 * keeps every checkpoint and catches up by itself (io/anchoring/anchoring).
 */
import type { ErrorGroupCode } from '../protocol/error-codes.js';

/**
 * Default MQTT keepalive of the gateway's connections to an external broker, in seconds.
 * 15 s: a broker that stops answering is noticed within 22.5 s of its last answer (mqtt.js
 * waits half the keepalive for the PINGRESP, and `brokerAnswering` allows 1.5 ×), inside the
 * 30 s an orchestrator's readiness probe takes to act at the usual 10 s period and 3 failures.
 * mqtt.js's own 60 s let a frozen broker go unnoticed for up to 90 s; Paho Go notices within
 * its keepalive and ping timeout, 30 + 10 s; broker bridges (Mosquitto, EMQX) keep 60 s.
 * It costs one 2-byte PINGREQ and PINGRESP a connection every 15 s.
 */
export const DEFAULT_BROKER_KEEPALIVE_S = 15;

/**
 * Whether a connection to the external broker last heard from it `sinceHeardMs` ago still
 * counts as answering: within 1.5 × its keepalive, the measure MQTT 5 §3.1.2.10 gives a server
 * for a silent client. A healthy idle connection hears a PINGRESP every keepalive.
 * @example
 * brokerAnswering(20_000, 15); // true
 * brokerAnswering(23_000, 15); // false
 */
export function brokerAnswering(sinceHeardMs: number, keepaliveS: number): boolean {
  return sinceHeardMs <= keepaliveS * 1500;
}

/** The anchoring component as `/healthz` names it: `off` when no ledger is configured. */
export type AnchoringHealth = 'ok' | 'off' | 'ledger_unavailable' | 'anchoring_stalled';

/** Why `/readyz` answers 503, as a registered HTTP code. */
export type ReadinessCode = ErrorGroupCode<'readiness'>;

/** The verdict of `/readyz`. */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly code: ReadinessCode };

/** The anchorer's status as health needs it (io/anchoring `AnchoringStatus`). */
export interface AnchoringView {
  /** Age of the oldest checkpoint waiting in the outbox, null when none waits. */
  readonly oldestPendingAgeMs: number | null;
  /** Code of the last failed round, null once a round succeeded. */
  readonly lastError: string | null;
  /** Time since a checkpoint was last anchored (or the anchorer started); absent = unknown. */
  readonly sinceProgressMs?: number;
}

export interface HealthInputs {
  /** The store commits (no failed commit since the last good one). */
  readonly storeOk: boolean;
  /**
   * The MQTT side is up: the embedded listener bound, or a lane connected to the external
   * broker and heard from it within 1.5 × its keepalive (a frozen broker is not up).
   */
  readonly mqttUp: boolean;
  /** The anchorer's status, or null when no ledger is configured. */
  readonly anchoring: AnchoringView | null;
  /** Whether the embedded chain's node runs, or null when there is none to watch (an external ledger). */
  readonly chainUp: boolean | null;
  /** Outbox age beyond which anchoring counts as stalled (ms). */
  readonly stallMs: number;
}

/**
 * The anchoring component's health.
 * @example
 * anchoringHealth({ …, anchoring: { oldestPendingAgeMs: 200_000, lastError: null }, chainUp: true, stallMs: 120_000 });
 * // 'anchoring_stalled'
 */
export function anchoringHealth(i: HealthInputs): AnchoringHealth {
  if (i.anchoring === null) return 'off';
  if (i.chainUp === false || i.anchoring.lastError === 'ledger_unavailable') return 'ledger_unavailable';
  const age = i.anchoring.oldestPendingAgeMs;
  const progressing = i.anchoring.sinceProgressMs !== undefined && i.anchoring.sinceProgressMs <= i.stallMs;
  if (age !== null && age > i.stallMs && !progressing) return 'anchoring_stalled';
  return 'ok';
}

/**
 * `/readyz`: ready when the store commits, the MQTT side is up and anchoring makes progress;
 * otherwise the first reason in the order of the `readiness` group (store and MQTT first).
 */
export function readiness(i: HealthInputs): Readiness {
  if (!i.storeOk || !i.mqttUp) return { ready: false, code: 'not_ready' };
  const a = anchoringHealth(i);
  if (a === 'ledger_unavailable' || a === 'anchoring_stalled') return { ready: false, code: a };
  return { ready: true };
}

/** The public fields of `/healthz`: words only, no counts or ages (they tell the ward's activity). */
export interface PublicHealth {
  /** `degraded` when a component below is not `ok` (or `off`). */
  readonly status: 'ok' | 'degraded';
  readonly store: 'ok' | 'failing';
  readonly anchoring: AnchoringHealth;
}

/** `/healthz`'s component fields. */
export function publicHealth(i: HealthInputs): PublicHealth {
  const store = i.storeOk ? 'ok' : 'failing';
  const anchoring = anchoringHealth(i);
  const fine = store === 'ok' && (anchoring === 'ok' || anchoring === 'off');
  return { status: fine ? 'ok' : 'degraded', store, anchoring };
}
