/**
 * @module io/anchoring
 * Checkpoints and their anchoring: the outbox submitter with reconciliation, the
 * checkpointer of a gateway without a ledger, signed checkpoint notes and receipts, the embedded anvil chain of the demo and its watchdog,
 * the deployment job.
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export { Anchorer, DEFAULT_FIRST_CONTACT_MS, ledgerMarkOf } from './anchoring.js';
export {
  accessAccountKeyPath,
  accountOf,
  consentAccountKeyPath,
  type EmbeddedChain,
  ensureAccountKey,
  startEmbeddedChain,
} from './chain.js';
export { ChainCalls, DEFAULT_CHAIN_STOP_MS } from './chain-calls.js';
export {
  type ChainWatch,
  ChainWatchdog,
  type ChainWatchdogOptions,
  type ChainWatchEvents,
  watchEmbeddedChain,
} from './chain-watchdog.js';
export {
  type AnchorableLog,
  type AnchorableNotes,
  Checkpointer,
  cutCheckpoint,
  LEDGER_META_KEY,
  type RecordedLedger,
  recordedLedger,
  recordLedger,
} from './checkpointer.js';
export {
  CheckpointNotes,
  type CheckpointSigner,
  checkpointKeyPath,
  createCheckpointSigner,
  loadCheckpointSigner,
} from './checkpoints.js';
export { runDeployJob } from './deploy-job.js';
