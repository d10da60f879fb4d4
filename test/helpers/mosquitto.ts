/**
 * @module test/helpers/mosquitto
 * A real Mosquitto (Debian `/usr/sbin/mosquitto`) on a free loopback port with a generated
 * configuration (core/mosquitto-config: `max_queued_messages 0`, see STACK-NOTES.md),
 * plain and anonymous, persistence off. Stopped by its PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../anchor/src/ledger/index.js';
import { mosquittoConfig } from '../../gateway/src/core/mosquitto-config.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface RunningMosquitto {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error('mosquitto did not start listening'));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/**
 * Starts Mosquitto with a config written into `dir`: by default the plain loopback one,
 * else `configOf(port)` (e.g. `mosquittoConfig` with `tls`; then the files it names must be
 * readable by the `mosquitto` user, which Mosquitto becomes when started as root).
 */
export async function startMosquitto(
  dir: string,
  configOf: (port: number) => string = (port) => mosquittoConfig({ port, bindAddress: '127.0.0.1' }),
): Promise<RunningMosquitto> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, configOf(port));
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(port, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`mosquitto failed: ${stderr.slice(0, 500)}`, { cause: err });
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
