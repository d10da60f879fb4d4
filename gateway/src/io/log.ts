/**
 * @module io/log
 * Structured logs: one JSON object per line on stderr. Call sites pass only
 * identifiers, codes and counts — never payloads, vitals or key material (STYLE.md §3).
 * Fields named like secrets are redacted all the same, as a second line of defence.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const REDACT = /pass|secret|key|token|cookie|payload|obs|frame/i;

export type Logger = Record<LogLevel, (msg: string, fields?: Record<string, unknown>) => void>;

export function createLogger(opts: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const at =
    (level: LogLevel) =>
    (msg: string, fields: Record<string, unknown> = {}): void => {
      if (ORDER[level] < min) return;
      const safe: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(fields)) safe[k] = REDACT.test(k) ? '[redacted]' : v;
      write(`${JSON.stringify({ t: new Date().toISOString(), level, msg, ...safe })}\n`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A logger that drops everything (tests, and library callers that do their own logging). */
export const silentLogger: Logger = createLogger({ write: () => {} });
