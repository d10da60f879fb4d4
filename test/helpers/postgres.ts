/**
 * @module test/helpers/postgres
 * A real PostgreSQL (Debian's `postgresql`, /usr/lib/postgresql/<n>/bin) for the tests of the
 * state a gateway group shares (io/shared): `initdb` into a fresh temp dir, then `postgres`
 * on a free loopback port with its unix socket inside that dir, fsync off. TCP connections
 * authenticate with SCRAM as user `vitaltrail` and a generated password (so the gateway's
 * `shared.postgres.passwordFile` path is what the tests use); the socket trusts local users.
 * PostgreSQL refuses to run as root: when the tests do, initdb and the server run as the
 * `postgres` user (`setpriv`, which execs, so the PID we hold is the server's) and the dir
 * is chown'd to it. Stopped by its PID (SIGINT: fast shutdown), the dir removed.
 * test/setup/system-deps.sh installs the package when it is missing.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';
import { makeTempDir } from './tmp.js';

export const PG_USER = 'vitaltrail';

export interface RunningPostgres {
  /** `postgres://vitaltrail@127.0.0.1:<port>/vitaltrail` (no password: see `password`). */
  url: string;
  password: string;
  port: number;
  process: ChildProcess;
  /** A new empty database; returns its URL (no password). */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

/** The newest installed server's bin directory, e.g. /usr/lib/postgresql/15/bin. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error('PostgreSQL is not installed (bash test/setup/system-deps.sh installs it)');
  return join(root, versions[0] as string, 'bin');
}

/** The user the server runs as: ourselves, or `postgres` (else `nobody`) when we are root. */
interface ServerUser {
  ids?: { uid: number; gid: number };
  /** `cmd args` as that user. */
  wrap(cmd: string, args: string[]): [string, string[]];
}

function serverUser(): ServerUser {
  if (process.getuid?.() !== 0) return { wrap: (cmd, args) => [cmd, args] };
  const id = (flag: string, fallback: number): number => {
    try {
      return Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    } catch {
      return fallback; // no postgres user: nobody
    }
  };
  const ids = { uid: id('-u', 65534), gid: id('-g', 65534) };
  return {
    ids,
    // setpriv execs the command (no fork), so a spawned server's PID is the server's.
    wrap: (cmd, args) => [
      'setpriv',
      [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', '--', cmd, ...args],
    ],
  };
}

async function waitReady(cfg: pg.ClientConfig, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited: ${log().slice(-800)}`);
    const c = new pg.Client(cfg);
    try {
      await c.connect();
      await c.end();
      return;
    } catch {
      await c.end().catch(() => {});
      if (Date.now() > deadline) throw new Error(`postgres did not start: ${log().slice(-800)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Freezes a running server as a hung host would be: SIGSTOP to the postmaster (no new
 * session is started), then to each of its processes (the backends and the auxiliary ones).
 * The kernel still accepts and acknowledges on its sockets; nothing answers. Returns the
 * thaw (SIGCONT to all of them; idempotent): call it in a `finally`.
 */
export function freezePostgres(server: RunningPostgres): () => void {
  const pid = server.process.pid as number;
  process.kill(pid, 'SIGSTOP');
  let kids: number[] = [];
  try {
    kids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    // pgrep exits 1 when the postmaster has no child
  }
  for (const k of kids) process.kill(k, 'SIGSTOP');
  let thawed = false;
  return () => {
    if (thawed) return;
    thawed = true;
    for (const k of kids) {
      try {
        process.kill(k, 'SIGCONT');
      } catch {
        // gone meanwhile
      }
    }
    process.kill(pid, 'SIGCONT');
  };
}

/**
 * Starts a PostgreSQL server in a temp dir with database `vitaltrail` (owner `vitaltrail`).
 * @example const pgsrv = await startPostgres(); … await pgsrv.stop();
 */
export async function startPostgres(): Promise<RunningPostgres> {
  const bin = postgresBinDir();
  const tmp = makeTempDir('vt-pg-');
  const data = join(tmp.dir, 'data');
  const sock = join(tmp.dir, 'sock');
  mkdirSync(sock);
  const password = randomBytes(18).toString('base64url');
  const pwFile = join(tmp.dir, 'pw');
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  const who = serverUser();
  if (who.ids) for (const p of [tmp.dir, sock, pwFile]) chownSync(p, who.ids.uid, who.ids.gid);
  chmodSync(tmp.dir, 0o700);
  const env = { ...process.env, LC_ALL: 'C.UTF-8' };
  const [initdb, initArgs] = who.wrap(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    PG_USER,
    `--pwfile=${pwFile}`,
    '--auth-host=scram-sha-256',
    '--auth-local=trust',
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
    '--no-sync',
    '--no-instructions',
  ]);
  execFileSync(initdb, initArgs, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const port = await freePort();
  const args = [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    sock,
    '-h',
    '127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=100',
  ];
  const [cmd, cmdArgs] = who.wrap(join(bin, 'postgres'), args);
  const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr = (stderr + String(d)).slice(-8000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const admin: pg.ClientConfig = { host: '127.0.0.1', port, user: PG_USER, password, database: 'postgres' };
  try {
    await waitReady(admin, child, () => stderr);
    const c = new pg.Client(admin);
    await c.connect();
    await c.query(`CREATE DATABASE ${PG_USER}`);
    await c.end();
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    tmp.cleanup();
    throw err;
  }
  let dbs = 0;
  const urlOf = (db: string) => `postgres://${PG_USER}@127.0.0.1:${port}/${db}`;
  return {
    url: urlOf(PG_USER),
    password,
    port,
    process: child,
    async createDatabase() {
      dbs += 1;
      const name = `vt_test_${dbs}`;
      const c = new pg.Client(admin);
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return urlOf(name);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT'); // fast shutdown: ends the sessions, then exits
        await exited;
      }
      tmp.cleanup();
    },
  };
}
