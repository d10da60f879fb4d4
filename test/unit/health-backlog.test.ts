/**
 * `/readyz` while a backlog of checkpoints drains (core/health; issue 16, checkpoints kept
 * without a ledger, io/anchoring/checkpointer): the first start with a ledger finds the outbox
 * holding checkpoints hours old. As long as the anchorer anchors one within the stall
 * threshold, that is progress, not `anchoring_stalled`; once anchoring stops moving for the
 * threshold, the old outbox is a stall again. Without a ledger, anchoring is `off` and ready.
 */
import { describe, expect, test } from 'vitest';
import {
  anchoringHealth,
  type HealthInputs,
  publicHealth,
  readiness,
} from '../../gateway/src/core/health.js';

const HOURS = 3 * 3_600_000;
const base: HealthInputs = {
  storeOk: true,
  mqttUp: true,
  anchoring: { oldestPendingAgeMs: HOURS, lastError: null },
  chainUp: true,
  stallMs: 120_000,
};
const withProgress = (sinceProgressMs: number, lastError: string | null = null): HealthInputs => ({
  ...base,
  anchoring: { oldestPendingAgeMs: HOURS, lastError, sinceProgressMs },
});

describe('health: a draining backlog', () => {
  test('behavior: an old outbox with an anchor within the threshold is ready, anchoring ok', () => {
    expect(readiness(withProgress(0))).toEqual({ ready: true });
    expect(readiness(withProgress(120_000))).toEqual({ ready: true });
    expect(anchoringHealth(withProgress(5_000))).toBe('ok');
  });

  test('behavior: no anchor for longer than the threshold, an old outbox is anchoring_stalled', () => {
    expect(readiness(withProgress(120_001, 'not_active_gateway'))).toEqual({
      ready: false,
      code: 'anchoring_stalled',
    });
    expect(publicHealth(withProgress(120_001))).toMatchObject({
      status: 'degraded',
      anchoring: 'anchoring_stalled',
    });
    // Without the progress figure (a caller that does not know), the age alone decides, as before.
    expect(anchoringHealth(base)).toBe('anchoring_stalled');
  });

  test('behavior: a silent ledger is ledger_unavailable even while progress was recent', () => {
    expect(readiness(withProgress(1_000, 'ledger_unavailable'))).toEqual({
      ready: false,
      code: 'ledger_unavailable',
    });
  });

  test('behavior: no ledger configured (checkpoints kept in the outbox) is ready with anchoring off', () => {
    const none = { ...base, anchoring: null, chainUp: null };
    expect(readiness(none)).toEqual({ ready: true });
    expect(publicHealth(none)).toEqual({ status: 'ok', store: 'ok', anchoring: 'off' });
  });
});
