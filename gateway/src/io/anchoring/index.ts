/**
 * @module io/anchoring
 * Checkpoints and their anchoring: the outbox submitter with reconciliation, signed
 * checkpoint notes and receipts, the embedded anvil chain of the demo, the deployment job.
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export { Anchorer, checkpointOrigin, logIdOf, toHex } from './anchoring.js';
export { startEmbeddedChain } from './chain.js';
export {
  CheckpointNotes,
  type CheckpointSigner,
  checkpointKeyPath,
  loadCheckpointSigner,
} from './checkpoints.js';
export { runDeployJob } from './deploy-job.js';
