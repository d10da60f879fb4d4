/**
 * @module io/ops/log
 * Structured logs: one JSON object per line on stderr. Call sites pass only
 * identifiers, codes and counts — never payloads, vitals or key material (STYLE.md §3).
 * Fields named like secrets or patient data (observation keys, names, beds) are redacted
 * all the same, in nested objects too, as a second line of defence.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const REDACT = /pass|secret|key|token|cookie|payload|obs|frame/i;
/** Patient data by exact field name: the observations of PROTOCOL.md §1 and identifiers. */
const REDACT_EXACT = new Set([
  'hr',
  'spo2',
  'rr',
  'temp',
  'sbp',
  'dbp',
  'bat',
  'wf',
  'patient',
  'name',
  'mrn',
  'bed',
]);
const MAX_DEPTH = 4;

/** Copies `fields` with secret-like and patient-data fields replaced, nested objects included. */
export function redactFields(fields: Record<string, unknown>, depth = 0): Record<string, unknown> {
  const safe: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (REDACT.test(k) || REDACT_EXACT.has(k.toLowerCase())) safe[k] = '[redacted]';
    else if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Error)) {
      safe[k] = depth >= MAX_DEPTH ? '[redacted]' : redactFields(v as Record<string, unknown>, depth + 1);
    } else safe[k] = v;
  }
  return safe;
}

export type Logger = Record<LogLevel, (msg: string, fields?: Record<string, unknown>) => void>;

export function createLogger(opts: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const at =
    (level: LogLevel) =>
    (msg: string, fields: Record<string, unknown> = {}): void => {
      if (ORDER[level] < min) return;
      write(`${JSON.stringify({ t: new Date().toISOString(), level, msg, ...redactFields(fields) })}\n`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A logger that drops everything (tests, and library callers that do their own logging). */
export const silentLogger: Logger = createLogger({ write: () => {} });
