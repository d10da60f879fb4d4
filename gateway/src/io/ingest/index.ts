/**
 * @module io/ingest
 * The ingest pipeline every transport feeds: stateless checks (signatures on the verify
 * pool's threads), group commit, and the `rejected` / `outcome` events its subscribers
 * follow; and the shredding of expired data keys between its commits (retention).
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export { Ingest, type IngestResult, type IngressContext, type IngressVia } from './ingest.js';
export { type RetentionOptions, RetentionShredder, type RetentionStats } from './retention.js';
