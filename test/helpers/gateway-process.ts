/**
 * @module test/helpers/gateway-process
 * Gateway processes in external-broker mode for the multi-process tests (scale-out, one
 * ward): the built runner (dist/test/helpers/gateway-runner.js, `npm run build`) started as
 * a child process, waited on until its ready line, killed by its own PID; and a data dir per
 * gateway copied from one prepared seed (same KGC, same enrolments, own store and log).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataPaths } from '../../gateway/src/io/ops/datadir.js';

export const GATEWAY_RUNNER = fileURLToPath(
  new URL('../../dist/test/helpers/gateway-runner.js', import.meta.url),
);

export interface GatewayProcess {
  id: string;
  /** The data dir (its root). */
  dir: string;
  child: ChildProcess;
  /** The exit code, null when killed by a signal. */
  exited: Promise<number | null>;
  /** Every stdout line so far. */
  lines: string[];
  /** The HTTP base URL from the ready line (dashboard, `/healthz`). */
  http: string;
}

/** How a runner is started: positional arguments (no ledger) or a gateway config file. */
export type RunnerArgs = { url: string; lanes?: number; sessionExpiryS?: number } | { config: string };

/**
 * Starts one runner process and waits for its ready line: from positional arguments
 * (no ledger, checkpoints hourly), or from a gateway config file (`{ config }`, as production
 * runs it).
 * @throws {Error} when the runner exits before it is ready (with the start of its stderr).
 */
export async function spawnGatewayRunner(id: string, dir: string, how: RunnerArgs): Promise<GatewayProcess> {
  const args =
    'config' in how
      ? [GATEWAY_RUNNER, '--config', how.config]
      : [GATEWAY_RUNNER, dir, id, how.url, String(how.lanes ?? 4), String(how.sessionExpiryS ?? 86_400)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const http = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        lines.push(line);
        buf = buf.slice(i + 1);
        if (line.includes('"ready":true')) resolve((JSON.parse(line) as { http: string }).http);
      }
    });
    void exited.then((code) => reject(new Error(`gateway ${id} exited ${code}: ${stderr.slice(0, 400)}`)));
  });
  return { id, dir, child, exited, lines, http };
}

/** True while the process has neither exited nor been killed. */
export function isRunning(g: GatewayProcess): boolean {
  return g.child.exitCode === null && g.child.signalCode === null;
}

/** SIGKILLs every runner still running (by its PID) and waits for all of them to exit. */
export async function killGateways(gateways: readonly GatewayProcess[]): Promise<void> {
  for (const g of gateways) if (isRunning(g)) g.child.kill('SIGKILL');
  await Promise.all(gateways.map((g) => g.exited));
}

/** A gateway's data dir `<root>/<id>`, copied from the prepared seed data dir. */
export function copyDataDir(seedRoot: string, root: string, id: string): string {
  const dir = join(root, id);
  cpSync(seedRoot, dir, { recursive: true });
  return dir;
}

/** The store file of a gateway's data dir. */
export const storeOf = (g: { dir: string }): string => dataPaths(g.dir).db;
