/**
 * @module test/helpers/demo
 * Starts the built `vitaltrail demo` (what `npm start` runs) as a child process on free
 * ports and waits for its banner; the tests that drive the whole system share it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { BIN } from './cli.js';

export interface DemoProcess {
  child: ChildProcess;
  /** Everything the demo printed so far (stdout and stderr). */
  out: () => string;
  /** The value printed after `label:` in the banner, e.g. field('Dashboard'). */
  field: (label: string) => string;
  /** SIGINT (Ctrl-C), then waits for the process to exit. */
  stop: () => Promise<void>;
}

export async function startDemo(
  dataDir: string,
  args: string[] = [],
  timeoutMs = 60_000,
): Promise<DemoProcess> {
  const child = spawn(
    process.execPath,
    [BIN, 'demo', '--data', dataDir, '--http-port', '0', '--mqtt-port', '0', '--chain-port', '0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const t0 = Date.now();
  while (!out.includes('Press Ctrl-C to stop')) {
    if (child.exitCode !== null) throw new Error(`demo exited early:\n${out}`);
    if (Date.now() - t0 > timeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`demo did not start within ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const field = (label: string) => {
    const m = out.match(new RegExp(`${label}:\\s+(\\S+)`));
    if (!m?.[1]) throw new Error(`no ${label} in demo output`);
    return m[1];
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise((r) => child.once('close', r));
    child.kill('SIGINT');
    await closed;
  };
  return { child, out: () => out, field, stop };
}
