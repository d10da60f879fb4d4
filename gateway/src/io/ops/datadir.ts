/**
 * @module io/ops/datadir
 * The layout of a VitalTrail data directory (`--data DIR`). One place names every file,
 * so the CLI commands, the gateway and the tests agree on it.
 *
 * ```
 * DIR/kgc/root.key.pem            KGC root key (0600)          — the KGC's, offline in production
 * DIR/kgc/root.cert.pem           KGC root certificate
 * DIR/devices/<id>/               a device's enrolment bundle (device.key.pem 0600, device.cert.pem,
 *                                 kgc-root.cert.pem) and the simulator's state.json
 * DIR/gateway/gateway.db          the store (SQLite, WAL)
 * DIR/gateway/users.json          dashboard accounts (0600); initial-admin-password (0600)
 * DIR/gateway/recipients/*.pub.pem  public keys the gateway seals for
 * DIR/gateway/recipients/*.key.pem  the matching private keys, where this host may read (0600)
 * DIR/chain/anvil-state.json      the embedded dev chain's state
 * DIR/chain/deployment.json       contract addresses and chain id
 * DIR/chain/endpoint.json         the RPC URL of the running embedded chain
 * DIR/chain/kgc.key, gateway.key  ledger account keys (0600)
 * ```
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { VitalTrailError } from '../../protocol/errors.js';
import { fsyncPath, renameDurably } from './safe-write.js';

export interface DataPaths {
  root: string;
  kgcDir: string;
  kgcRootCert: string;
  devicesDir: string;
  deviceDir: (dev: string) => string;
  gatewayDir: string;
  db: string;
  users: string;
  initialAdminPassword: string;
  recipientsDir: string;
  chainDir: string;
  anvilState: string;
  deployment: string;
  endpoint: string;
  kgcAccountKey: string;
  gatewayAccountKey: string;
  /** The patient-pseudonym key (core/pseudonym; issue 18), 32 random bytes in hex, mode 0600. */
  pseudonymKey: string;
}

export function dataPaths(dir: string): DataPaths {
  const root = resolve(dir);
  const kgcDir = join(root, 'kgc');
  const devicesDir = join(root, 'devices');
  const gatewayDir = join(root, 'gateway');
  const chainDir = join(root, 'chain');
  return {
    root,
    kgcDir,
    kgcRootCert: join(kgcDir, 'root.cert.pem'),
    devicesDir,
    deviceDir: (dev) => join(devicesDir, dev),
    gatewayDir,
    db: join(gatewayDir, 'gateway.db'),
    users: join(gatewayDir, 'users.json'),
    initialAdminPassword: join(gatewayDir, 'initial-admin-password'),
    recipientsDir: join(gatewayDir, 'recipients'),
    chainDir,
    anvilState: join(chainDir, 'anvil-state.json'),
    deployment: join(chainDir, 'deployment.json'),
    endpoint: join(chainDir, 'endpoint.json'),
    kgcAccountKey: join(chainDir, 'kgc.key'),
    gatewayAccountKey: join(chainDir, 'gateway.key'),
    pseudonymKey: join(gatewayDir, 'pseudonym.key'),
  };
}

export function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** The name `fileBeside` gives its file: the target's, the writer's pid, 8 hex digits, `.tmp`. */
const BESIDE = /^.+\.(\d{1,10})\.[0-9a-f]{8}\.tmp$/;

/** `content` in a new file beside `path` (`mode`, whatever the umask), on disk; its name. */
function fileBeside(path: string, content: string, mode: number): string {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', mode);
  try {
    const bytes = Buffer.from(content, 'utf8');
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  return tmp;
}

/**
 * Writes `path` whole or not at all: the content goes to a file beside it, fsync'd, then
 * renamed over it and the directory fsync'd (io/ops/safe-write `renameDurably`), so a kill
 * mid-write leaves the old file (or none), never a torn one, and the new one outlives a crash.
 */
function writeWhole(path: string, content: string, mode: number): void {
  renameDurably(fileBeside(path, content, mode), path);
}

export function writeJson(path: string, value: unknown, mode = 0o644): void {
  writeWhole(path, `${JSON.stringify(value, null, 2)}\n`, mode);
}

/** Writes a secret file with mode 0600, whole or not at all (a torn key would be read as one). */
export function writeSecret(path: string, content: string): void {
  writeWhole(path, content, 0o600);
}

/**
 * Creates the secret file `path` (0600) with `content`, whole or not at all, unless it exists:
 * of two processes creating it at once one wins, and a kill mid-write leaves no file. Once
 * created, its directory is fsync'd, so the new name outlives a power cut as its content does.
 * @returns false when the file already existed (nothing written)
 */
export function createSecret(path: string, content: string): boolean {
  const tmp = fileBeside(path, content, 0o600);
  let created = false;
  try {
    linkSync(tmp, path); // atomic and exclusive: EEXIST when it is there
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  if (created) fsyncPath(dirname(path));
  return created;
}

/**
 * Removes from `dir` the files a write whole (`writeJson`, `writeSecret`, `createSecret`) left
 * beside its target when its process was killed mid-write: a copy of a key or of the accounts
 * (mode 0600) that nothing reads and nothing would ever remove. A file whose writer still runs
 * is left alone; a directory that does not exist has none.
 * @returns the names of the files removed
 */
export function sweepStaleTemps(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = BESIDE.exec(name)?.[1];
    if (pid === undefined || running(Number(pid))) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/** Whether a process `pid` runs (one of another user's counts: it cannot be signalled, but it is there). */
function running(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `path` is a directory this process can stat (false for anything else, never throws). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The secret key in the file `path` (hex), made of `bytes` random bytes at the first call and
 * written with mode 0600 (its directory 0700). Exclusive creation: of two processes making it
 * at once, one writes it and both read the same key.
 * @throws {VitalTrailError} `config_invalid` when the file holds no key of that size
 */
export function keyFile(path: string, bytes: number): Uint8Array {
  if (!existsSync(path)) {
    ensureDir(dirname(path));
    createSecret(path, `${randomBytes(bytes).toString('hex')}\n`);
  }
  const hex = readFileSync(path, 'utf8').trim();
  if (!new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(hex))
    throw new VitalTrailError('config_invalid', `${path} does not hold a key of ${bytes} bytes in hex`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function ensureDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  return path;
}
