/**
 * @module test/unit/dashboard-contract
 * The live contract has one owner, gateway/src/core/live-contract.ts; the pages run
 * without a build step and carry a copy of its runtime constants in
 * dashboards/common/contract.js (typed there with the owner's literal types, so
 * `npm run typecheck` also fails on a difference). This test compares the values.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as contract from '../../gateway/src/core/live-contract.js';
import { WS_CLOSE_SESSION_ENDED } from '../../gateway/src/io/http/server.js';

const PAGE_CONTRACT = pathToFileURL(join(import.meta.dirname, '../../dashboards/common/contract.js')).href;

describe('dashboard contract', () => {
  it("behavior: the page's constants equal the server's", async () => {
    const page = (await import(PAGE_CONTRACT)) as Record<string, unknown>;
    expect(Object.keys(page).sort()).toEqual([
      'CONNECTION_LOST_MS',
      'HEARTBEAT_MS',
      'NEWS2_BANDS',
      'WS_CLOSE_SESSION_ENDED',
    ]);
    expect(page.WS_CLOSE_SESSION_ENDED).toBe(contract.WS_CLOSE_SESSION_ENDED);
    expect(page.NEWS2_BANDS).toEqual(contract.NEWS2_BANDS);
    expect(page.HEARTBEAT_MS).toBe(contract.HEARTBEAT_MS);
    expect(page.CONNECTION_LOST_MS).toBe(contract.CONNECTION_LOST_MS);
  });

  it('behavior: a silent socket is noticed only after more than one heartbeat interval went unheard', () => {
    // The server's heartbeat comes at most HEARTBEAT_MS + a tick after the last message
    // (io/http/live-socket); the page must not call a healthy link lost between two.
    expect(contract.CONNECTION_LOST_MS).toBeGreaterThanOrEqual(2 * contract.HEARTBEAT_MS);
    expect(contract.CONNECTION_LOST_MS).toBeLessThanOrEqual(5000);
  });

  it('behavior: the server closes ended sessions with the contract code', () => {
    expect(WS_CLOSE_SESSION_ENDED).toBe(4401);
    expect(contract.WS_CLOSE_SESSION_ENDED).toBe(4401);
  });
});
