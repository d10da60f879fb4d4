/**
 * @module io/data-keys
 * The data keys that seal each device's frames (issue 14): the ring that hands them out and
 * records them (ring.ts), the gate that keeps a commit from waiting for one (gate.ts), and
 * the keys made before they are needed (ahead.ts).
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export { KeysAhead, type KeysAheadOptions, type KeysAheadStats } from './ahead.js';
export { type Gated, KeyGate } from './gate.js';
export {
  DataKeyRing,
  type DataKeyRingOptions,
  type DataKeyRingStats,
  DEFAULT_MAX_FRAMES_PER_KEY,
} from './ring.js';
