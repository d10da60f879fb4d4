/**
 * @module test/bench/procs
 * The processes of the ingest benchmarks: drivers (test/bench/driver.ts, spawned, a JSON
 * result on stdout) and hosts (test/bench/host.ts, forked, IPC), stopped by their own
 * handles only.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DriverJob, DriverResult } from './driver.js';
import type { HostJob, HostStats } from './host.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/**
 * Runs one driver process; `onEvent` sees its progress lines, with `release` to send the
 * line a driver that holds before its end (`holdBeforeEnd`) waits for.
 */
export function drive(
  job: DriverJob,
  onEvent?: (e: Record<string, unknown>, release: () => void) => void,
): Promise<DriverResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [here('./driver.js'), JSON.stringify(job)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const release = () => child.stdin.end('end\n');
    if (!job.holdBeforeEnd) child.stdin.end();
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (let i = out.indexOf('\n'); i >= 0; i = out.indexOf('\n')) {
        const line = out.slice(0, i);
        out = out.slice(i + 1);
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('event' in msg) onEvent?.(msg, release);
        else resolve(msg as unknown as DriverResult);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench driver exited with ${code}`));
    });
  });
}

export interface Host {
  url: string;
  /** The gateway's start (`startGateway`), ms; 0 for the pass-through's drain. */
  startMs: number;
  stats(): Promise<HostStats>;
  /**
   * Stops the host (the gateway drains what it holds, then stops); after `timeoutMs`
   * (default 120 s) it is killed. True when it stopped by itself.
   */
  stop(timeoutMs?: number): Promise<boolean>;
}

/** The gateway's glibc malloc arenas in the bench: the image's 2 unless BENCH_MALLOC_ARENA_MAX says otherwise. */
export const HOST_MALLOC_ARENA_MAX =
  process.env.BENCH_MALLOC_ARENA_MAX ?? process.env.MALLOC_ARENA_MAX ?? '2';

/** The gateway's Node options in the bench: the image's (gateway/Dockerfile `NODE_OPTIONS` and its ENTRYPOINT's) unless BENCH_HOST_NODE_ARGS says otherwise. */
export const HOST_NODE_ARGS =
  process.env.BENCH_HOST_NODE_ARGS ?? '--max-semi-space-size=4 --no-memory-reducer';

/** The gateway's `heapGrowingPercent` in the bench (BENCH_HEAP_GROWING_PERCENT); unset: its default. */
export const HOST_HEAP_GROWING_PERCENT =
  process.env.BENCH_HEAP_GROWING_PERCENT === undefined
    ? undefined
    : Number(process.env.BENCH_HEAP_GROWING_PERCENT);

function hostEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (HOST_MALLOC_ARENA_MAX === 'default') delete env.MALLOC_ARENA_MAX;
  else env.MALLOC_ARENA_MAX = HOST_MALLOC_ARENA_MAX;
  return env;
}

/** Forks a host process and waits for it to be ready. */
export function startHost(job: HostJob): Promise<Host> {
  return new Promise((resolve, reject) => {
    // BENCH_HOST_PROF=DIR: a V8 CPU profile of each host (the gateway) into DIR;
    // BENCH_HOST_NODE_ARGS: the host's Node options instead of the image's (e.g. `--trace-gc`;
    // empty: none).
    const prof = process.env.BENCH_HOST_PROF;
    const extra = HOST_NODE_ARGS.split(' ').filter((a) => a !== '');
    const child: ChildProcess = fork(here('./host.js'), [JSON.stringify(job)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // As the gateway image runs it (gateway/Dockerfile); BENCH_MALLOC_ARENA_MAX=default: glibc's own.
      env: hostEnv(),
      execArgv: [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), ...extra],
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const pending: ((s: HostStats) => void)[] = [];
    child.on('message', (m: { ready?: boolean; url?: string; startMs?: number; stats?: HostStats }) => {
      if (m.ready) {
        resolve({
          url: m.url as string,
          startMs: m.startMs ?? 0,
          stats: () =>
            new Promise<HostStats>((r) => {
              pending.push(r);
              child.send({ cmd: 'stats' });
            }),
          stop: async (timeoutMs = 120_000) => {
            if (child.exitCode !== null || child.signalCode !== null) return true;
            child.send({ cmd: 'stop' });
            const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
            await exited;
            clearTimeout(timer);
            return child.signalCode === null;
          },
        });
      } else if (m.stats) pending.shift()?.(m.stats);
    });
    child.once('exit', (code) => reject(new Error(`bench host exited with ${code} before it was ready`)));
  });
}

/**
 * The CPU (user + system) a process has used so far, µs, from /proc/PID/stat (Linux; clock
 * ticks of 10 ms on this kernel's USER_HZ of 100): for a process the bench did not write, e.g.
 * Mosquitto. NaN when it cannot be read.
 */
export function processCpuMicros(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start at its closing parenthesis.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}

/** Linux's USER_HZ (`getconf CLK_TCK`), the unit of /proc's CPU times: 100 on every architecture Node runs on here. */
const USER_HZ = 100;
