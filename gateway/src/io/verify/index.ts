/**
 * @module io/verify
 * The signature-checking threads (issue 14): the pool (verify-pool.ts) that checks frames'
 * P-256 signatures off the event loop, sized to the load (demand-meter.ts), fed in batches
 * (batch-shares.ts, verify-keys.ts) to its worker (verify-worker.ts).
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export { VerifyPool } from './verify-pool.js';
export type { VerifyPoolOptions, VerifyPoolStats } from './verify-pool-options.js';
export { DEFAULT_VERIFY_NICE } from './verify-pool-options.js';
