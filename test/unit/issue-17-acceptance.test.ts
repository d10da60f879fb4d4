/**
 * @module test/unit/issue-17-acceptance
 * Issue 17, the pure rule: on a gateway that anchors on a chain, a device whose key the
 * registry does not hold (`registered: false`) is `unregistered_device`, checked with the
 * device's certificate (PROTOCOL.md §1: after `unknown_device`, `revoked_device`,
 * `expired_certificate`, before the signature); a gateway that anchors nowhere has no such
 * rule (`registered` absent).
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { checkFrame, type DeviceRecord } from '../../gateway/src/core/acceptance.js';
import { FrameChain } from '../helpers/gateway.js';

const POLICY = { retentionMs: 30 * 86_400_000 };
const DAY = 86_400_000;

describe('unregistered_device', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const frame = new FrameChain('wr-0001', privateKey).next({ ts: now });
  const forged = new FrameChain(
    'wr-0001',
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
  ).next({
    ts: now,
  });
  const device = (over: Partial<DeviceRecord>): DeviceRecord => ({
    dev: 'wr-0001',
    publicKey,
    status: 'active',
    notBefore: now - DAY,
    notAfter: now + DAY,
    ...over,
  });
  const verdict = (bytes: Uint8Array, over: Partial<DeviceRecord>) => {
    const v = checkFrame(bytes, 'wr-0001', () => device(over), now, POLICY);
    return v.ok ? 'accepted' : v.code;
  };

  test('behavior: registered or anchoring nowhere is accepted; not registered is unregistered_device', () => {
    expect(verdict(frame, { registered: true })).toBe('accepted');
    expect(verdict(frame, {})).toBe('accepted');
    expect(verdict(frame, { registered: false })).toBe('unregistered_device');
  });

  test('behavior: the certificate rules come first, the signature after', () => {
    expect(verdict(frame, { registered: false, status: 'revoked' })).toBe('revoked_device');
    expect(verdict(frame, { registered: false, notAfter: now - 1 })).toBe('expired_certificate');
    expect(verdict(forged, { registered: false })).toBe('unregistered_device');
    expect(verdict(forged, { registered: true })).toBe('bad_signature');
    const v = checkFrame(frame, 'wr-0001', () => undefined, now, POLICY);
    expect(v.ok ? 'accepted' : v.code).toBe('unknown_device');
  });
});
