/**
 * What `/readyz` and `/healthz` say (core/health; issue 13 item 11, "/readyz on a stuck
 * outbox"): store and MQTT first, then anchoring — the embedded chain down or the ledger
 * silent is `ledger_unavailable`, an outbox older than the threshold is `anchoring_stalled`;
 * `/healthz` names the degraded component in words, never a count or an age.
 */
import { describe, expect, test } from 'vitest';
import {
  anchoringHealth,
  brokerAnswering,
  DEFAULT_BROKER_KEEPALIVE_S,
  type HealthInputs,
  publicHealth,
  readiness,
} from '../../gateway/src/core/health.js';
import { ERROR_CODES, ERROR_GROUPS } from '../../gateway/src/protocol/error-codes.js';

const OK: HealthInputs = {
  storeOk: true,
  mqttUp: true,
  anchoring: { oldestPendingAgeMs: null, lastError: null },
  chainUp: true,
  stallMs: 120_000,
};
const withAnchoring = (
  a: Partial<NonNullable<HealthInputs['anchoring']>>,
  more: Partial<HealthInputs> = {},
) => ({
  ...OK,
  anchoring: { ...(OK.anchoring as NonNullable<HealthInputs['anchoring']>), ...a },
  ...more,
});

describe('health', () => {
  test('behavior: all well is ready, status ok; no ledger at all is ready with anchoring off', () => {
    expect(readiness(OK)).toEqual({ ready: true });
    expect(publicHealth(OK)).toEqual({ status: 'ok', store: 'ok', anchoring: 'ok' });
    const noLedger = { ...OK, anchoring: null, chainUp: null };
    expect(readiness(noLedger)).toEqual({ ready: true });
    expect(publicHealth(noLedger)).toEqual({ status: 'ok', store: 'ok', anchoring: 'off' });
  });

  test('behavior: the embedded chain down, or the ledger silent on the last attempt, is ledger_unavailable', () => {
    const down = { ...OK, chainUp: false };
    expect(readiness(down)).toEqual({ ready: false, code: 'ledger_unavailable' });
    expect(publicHealth(down)).toEqual({ status: 'degraded', store: 'ok', anchoring: 'ledger_unavailable' });
    const silent = withAnchoring(
      { lastError: 'ledger_unavailable', oldestPendingAgeMs: 1500 },
      { chainUp: null },
    );
    expect(readiness(silent)).toEqual({ ready: false, code: 'ledger_unavailable' });
    // Another failure (the ledger answers but refuses) is not "unavailable": it stalls in time.
    expect(readiness(withAnchoring({ lastError: 'not_active_gateway', oldestPendingAgeMs: 1500 }))).toEqual({
      ready: true,
    });
  });

  test('behavior: the oldest pending checkpoint beyond the threshold is anchoring_stalled; at it, still ready', () => {
    expect(readiness(withAnchoring({ oldestPendingAgeMs: 120_000 }))).toEqual({ ready: true });
    const stalled = withAnchoring({ oldestPendingAgeMs: 120_001, lastError: 'not_active_gateway' });
    expect(readiness(stalled)).toEqual({ ready: false, code: 'anchoring_stalled' });
    expect(anchoringHealth(stalled)).toBe('anchoring_stalled');
    expect(publicHealth(stalled)).toEqual({
      status: 'degraded',
      store: 'ok',
      anchoring: 'anchoring_stalled',
    });
    // The chain being down is the more precise reason.
    expect(readiness({ ...stalled, chainUp: false })).toEqual({ ready: false, code: 'ledger_unavailable' });
  });

  test('behavior: the store or MQTT side comes first (not_ready); /healthz names the failing store', () => {
    const storeDown = withAnchoring({ oldestPendingAgeMs: 500_000 }, { storeOk: false, chainUp: false });
    expect(readiness(storeDown)).toEqual({ ready: false, code: 'not_ready' });
    expect(publicHealth(storeDown)).toEqual({
      status: 'degraded',
      store: 'failing',
      anchoring: 'ledger_unavailable',
    });
    expect(readiness({ ...OK, mqttUp: false })).toEqual({ ready: false, code: 'not_ready' });
  });

  test('behavior: every readiness code is a registered 503 of the /readyz group; /healthz holds words only', () => {
    for (const code of ERROR_GROUPS.readiness) {
      expect(ERROR_CODES[code].http.status).toBe(503);
      expect(ERROR_GROUPS.metrics_http).toContain(code);
    }
    const h = publicHealth(withAnchoring({ oldestPendingAgeMs: 999_999 }));
    expect(Object.values(h).every((v) => typeof v === 'string' && !/\d/.test(v))).toBe(true);
  });

  test('behavior: a broker connection answers while last heard within 1.5 × its keepalive (MQTT 5 §3.1.2.10)', () => {
    expect(DEFAULT_BROKER_KEEPALIVE_S).toBe(15);
    // A healthy idle connection hears a PINGRESP a keepalive (plus a round trip) apart.
    expect(brokerAnswering(15_050, 15)).toBe(true);
    expect(brokerAnswering(22_500, 15)).toBe(true);
    expect(brokerAnswering(22_501, 15)).toBe(false);
    expect(brokerAnswering(3001, 2)).toBe(false);
    expect(brokerAnswering(Number.POSITIVE_INFINITY, 15)).toBe(false); // never heard
  });
});
