/**
 * @module io/store
 * The durable store (one SQLite file): the schema and its migrations (schema.ts), frames,
 * batches and the log (store.ts), the anchoring outbox (checkpoint-table.ts), sealed frames
 * and data keys (sealed.ts), sealed per-window rollups (rollups.ts), patient bindings,
 * envelope recipients, cross-gateway counts. Readings and trends are read through io/queries.
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export {
  BED_PATTERN,
  type Binding,
  type BindingBook,
  type BindingChange,
  BindingError,
  Bindings,
  type BindingsOptions,
  bedKey,
  openPatientId,
  PATIENT_ID_PATTERN,
  sealPatientId,
  tellListeners,
} from './bindings.js';
export { type RawCheckpoint, toCheckpoint } from './checkpoint-table.js';
export {
  addRecipient,
  createRecipientKey,
  listRecipients,
  loadRecipientSecrets,
  loadRecipients,
  retireRecipient,
  watchRecipients,
} from './recipients.js';
export {
  openRollup,
  ROLLUP_IV_BYTES,
  type RollupRow,
  RollupTable,
  rollupAad,
  sealRollup,
} from './rollups.js';
export { countAcrossGateways } from './scale-out.js';
export { freeBytes, readSnapshot } from './schema.js';
export {
  batchAad,
  DEFAULT_KEY_WINDOW_MS,
  dataKeyAad,
  type FrameRead,
  frameAad,
  SEALED_FRAMES_MARKER,
  SealedError,
  SealedReader,
  sealingStatements,
} from './sealed.js';
export {
  type ShredOptions,
  type ShredResult,
  type StoredShredRecord,
  shredExpired,
  shredRecordsCovering,
  sweepExpired,
} from './shredding.js';
export {
  type CheckpointRow,
  type DeviceRow,
  type FrameIndexRow,
  type FrameReadRow,
  type GatewayStore,
  type NewFrame,
  openStore,
  StoreError,
} from './store.js';
