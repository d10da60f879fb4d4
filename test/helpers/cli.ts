/**
 * @module test/helpers/cli
 * Runs the built `vitaltrail` command (bin/vitaltrail.js → dist/) as a user would.
 * `npm test` builds first (pretest); run `npm run build` before running a CLI test alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/vitaltrail.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  opts: { timeoutMs?: number; cwd?: string; stdin?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
  });
}

/** `vitaltrail gateway`'s listeners each on a free port (the `ready` line names them). */
export const ANY_PORTS: readonly string[] = ['--mqtt-port', '0', '--http-port', '0', '--mqtts-port', '0'];

/** The URLs `vitaltrail gateway` prints on its `ready {json}` line. */
export interface GatewayUrls {
  mqtt: string | null;
  mqtts: string | null;
  http: string;
}

/**
 * Starts the built `vitaltrail gateway` with `args` in a child process; `ready` resolves with
 * the URLs of its `ready {json}` line, and rejects (with the end of its stderr) if it exits
 * first.
 */
export function spawnGateway(args: readonly string[]): { child: ChildProcess; ready: Promise<GatewayUrls> } {
  const child = spawn(process.execPath, [BIN, 'gateway', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const ready = new Promise<GatewayUrls>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (d) => {
      err += d;
    });
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /^ready (\{.*\})$/m.exec(out);
      if (m) resolve(JSON.parse(m[1] as string) as GatewayUrls);
    });
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${err.slice(-500)}`)));
  });
  return { child, ready };
}

/** Resolves with the exit code (null when killed by a signal) once `c` has exited. */
export function exitOf(c: ChildProcess): Promise<number | null> {
  return new Promise((resolve) =>
    c.exitCode !== null || c.signalCode !== null
      ? resolve(c.exitCode)
      : c.once('exit', (code) => resolve(code)),
  );
}
