/**
 * @module io/ops
 * Operations: the data directory's layout, structured logs, the hash-chained audit log,
 * and the metric registry. The bottom of io/: imports only protocol/ and core/.
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export { type AuditEventType, AuditLog, verifyAuditLog } from './audit.js';
export {
  type DataPaths,
  dataPaths,
  ensureDir,
  isDirectory,
  readJson,
  writeJson,
  writeSecret,
} from './datadir.js';
export { type DataDirLock, INSTANCE_LOCK_FILE, lockDataDir } from './instance-lock.js';
export { createLogger, type Logger, type LogLevel } from './log.js';
export { GatewayMetrics } from './metrics.js';
export {
  checkOutputPath,
  OUTPUT_FILE_MODE,
  OutputPathError,
  type OutputPathErrorCode,
  openSafeOutput,
  renameDurably,
  type SafeOutput,
  writeOutputFile,
} from './safe-write.js';
