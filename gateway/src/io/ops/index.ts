/**
 * @module io/ops
 * Operations: the data directory's layout, structured logs, the hash-chained audit log,
 * the metric registry, and online backup and restore of a data directory. The bottom of
 * io/: imports only protocol/ and core/.
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export {
  AuditError,
  type AuditEventType,
  type AuditFields,
  AuditLog,
  type AuditProblemCode,
  type AuditReport,
  type AuditTrail,
  type AuditTrailEntry,
  type AuditTrailProblem,
  type AuditTrailReport,
  ChainReader,
  chainLines,
  DEFAULT_AUDIT_ROTATE_BYTES,
  FileAuditTrail,
  lineN,
  type RotationResult,
  rotateAuditLog,
  sha256Hex,
  verifyAuditLog,
  ZERO_HASH_HEX,
} from './audit.js';
export {
  type BackupOptions,
  backupDataDir,
  integrityCheck,
  type RestoreOptions,
  restoreBackup,
  type StoreInspector,
} from './backup.js';
export {
  BACKUP_DATA_DIR,
  BACKUP_FORMAT,
  BACKUP_MANIFEST_FILE,
  type BackupCheckpoint,
  BackupError,
  type BackupFileEntry,
  type BackupManifest,
  type BackupStoreSummary,
  invalidBackup,
  parseManifest,
  verifyBackup,
} from './backup-manifest.js';
export {
  createSecret,
  type DataPaths,
  dataPaths,
  ensureDir,
  isDirectory,
  keyFile,
  readJson,
  sweepStaleTemps,
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
  writeOutputFileFrom,
} from './safe-write.js';
