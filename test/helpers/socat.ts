/**
 * @module test/helpers/socat
 * A fresh pair of linked pseudo-terminals made by Debian's `socat`, for serial tests on
 * real ttys (STACK-NOTES.md): `socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B`.
 * `cut()` stops socat (SIGTERM: it removes both links, and the ttys vanish as a pulled
 * USB adapter would); `restore()` starts it again with the same link names.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface PtyPair {
  /** The gateway's end. */
  a: string;
  /** The device's end. */
  b: string;
  /** Stops socat and waits until it has exited. */
  cut(): Promise<void>;
  /** Starts socat again with the same links and waits for both. */
  restore(): Promise<void>;
  /** Stops socat for good. */
  stop(): Promise<void>;
}

async function waitFor(fn: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts socat with links `dir/<name>-a` and `dir/<name>-b` and waits for both. */
export async function startPtyPair(dir: string, name = 'tty'): Promise<PtyPair> {
  const a = join(dir, `${name}-a`);
  const b = join(dir, `${name}-b`);
  let proc: ChildProcess | undefined;
  const start = async () => {
    const p = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
      stdio: 'ignore',
    });
    proc = p;
    let exited = false;
    p.once('exit', () => {
      exited = true;
    });
    await waitFor(() => exited || (existsSync(a) && existsSync(b)), 5000, 'socat links');
    if (exited) throw new Error('socat exited at start');
  };
  const cut = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    await gone;
  };
  await start();
  return { a, b, cut, restore: start, stop: cut };
}
