/**
 * V8 profiles as the bench's readers (`profile-window.ts`, `heap-profile.ts`) take them: a
 * file read and parsed with a clear error, and a call frame named `functionName path:line`
 * (the path cut to the package, `nm:…`, or to the build's tree; Node's own modules without
 * `node:`).
 */
import { readFileSync } from 'node:fs';

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

export function callFrameName(cf: CallFrame): string {
  const url = cf.url
    .replace(/.*node_modules\//, 'nm:')
    .replace(/.*\/dist\//, '')
    .replace(/^node:/, '');
  return `${cf.functionName || '(anonymous)'} ${url}:${cf.lineNumber}`;
}

/**
 * The JSON of a profile file; on a file that cannot be read or is not JSON, says so on
 * stderr (`tool: cannot read FILE: why`) and returns undefined with exit code 2.
 */
export function readProfile<T>(tool: string, file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err) {
    process.stderr.write(`${tool}: cannot read ${file}: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return undefined;
  }
}
