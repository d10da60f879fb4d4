/**
 * @module test/integration/device-kit
 * Issue 17, the device maker's kit: the example device clients of firmware-sim/examples
 * (Python: Debian's python3-paho-mqtt and python3-cryptography; C: libmosquitto, libcbor
 * and OpenSSL, compiled here with gcc) run against a real gateway (embedded broker, mutual
 * TLS with KGC certificates, the SQLite store). Each client sends N good frames and one bad
 * one; every good frame is PUBACKed and stored as one seq/prev chain (PROTOCOL.md §1-2), the
 * bad one is PUBACKed too and rejected on `/rejects` with its code: `bad_signature` for a
 * flipped signature byte, `malformed` with `"seq": null` for bytes that are no frame (§6).
 * Both clients' encoders are also checked against the kit's vectors (test/vectors/device).
 *
 * The tools come from test/setup/system-deps.sh; a missing one fails the suite with a
 * message naming the Debian package (never a skip).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../../gateway/src/app/gateway.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { decodeFrame, verifyFrameSignature } from '../../gateway/src/protocol/frame.js';
import { prepareDataDir, startMtlsGateway } from '../helpers/gateway.js';
import { DEVICE_KIT_KEY_PATH, DEVICE_VECTORS_DIR } from '../helpers/generate-device-vectors.js';
import { makeTempDir } from '../helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PY_CLIENT = join(ROOT, 'firmware-sim/examples/python/vt_device.py');
const C_SOURCE = join(ROOT, 'firmware-sim/examples/c/vt_device.c');
const FRAMES_JSON = join(ROOT, DEVICE_VECTORS_DIR, 'frames.json');
/** Debian's interpreter, the one python3-paho-mqtt installs for (a pyenv `python3` on PATH lacks it). */
const PYTHON = '/usr/bin/python3';
const N = 5;
const DEVICES = ['kit-py-01', 'kit-py-02', 'kit-c-01', 'kit-c-02'];

interface ClientLine {
  kind: 'connected' | 'puback' | 'ack' | 'reject' | 'done' | 'vector';
  topic?: string;
  seq?: number | null;
  code?: string;
  ok?: boolean;
  error?: string | null;
}

let tmp: ReturnType<typeof makeTempDir>;
let paths: DataPaths;
let gw: RunningGateway;
let cBinary: string;

/** The kit's tools that are missing, per client, each naming the Debian package to install. */
function missingTools(): { python: string[]; c: string[] } {
  const python: string[] = [];
  const c: string[] = [];
  const py = spawnSync(PYTHON, ['-c', 'import paho.mqtt.client, cryptography'], { encoding: 'utf8' });
  if (py.error || py.status !== 0) python.push(`${PYTHON} with python3-paho-mqtt and python3-cryptography`);
  const gcc = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (gcc.error || gcc.status !== 0) c.push('gcc');
  const headers: [string, string][] = [
    ['/usr/include/stdio.h', 'libc6-dev'],
    ['/usr/include/mosquitto.h', 'libmosquitto-dev'],
    ['/usr/include/cbor.h', 'libcbor-dev'],
    ['/usr/include/openssl/evp.h', 'libssl-dev'],
  ];
  for (const [h, pkg] of headers) if (!existsSync(h)) c.push(`${pkg} (${h})`);
  return { python, c };
}

let missing: { python: string[]; c: string[] };

/** Fails the test (never skips it) when a tool of the client is missing, naming what to install. */
function requireTools(client: 'python' | 'c'): void {
  if (missing[client].length > 0) {
    throw new Error(
      `device kit: missing ${missing[client].join(', ')}; run test/setup/system-deps.sh (apt-get, as root or with sudo)`,
    );
  }
}

function compileC(out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'gcc',
      [
        '-std=c11',
        '-Wall',
        '-Wextra',
        '-Werror',
        '-O2',
        '-o',
        out,
        C_SOURCE,
        '-lmosquitto',
        '-lcbor',
        '-lcrypto',
      ],
      (err, _stdout, stderr) => (err ? reject(new Error(`gcc failed: ${stderr.slice(0, 4000)}`)) : resolve()),
    );
  });
}

/** Runs a client to its end (asynchronously: the gateway lives in this process). */
function run(
  cmd: string,
  args: string[],
): Promise<{ code: number | null; lines: ClientLine[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (code) => {
      try {
        const lines = stdout
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as ClientLine);
        resolve({ code, lines, stderr });
      } catch {
        reject(
          new Error(`${cmd}: output is not JSON lines: ${stdout.slice(0, 2000)} ${stderr.slice(0, 2000)}`),
        );
      }
    });
  });
}

function clientArgs(dev: string, bad: 'signature' | 'malformed'): string[] {
  return [
    '--host',
    '127.0.0.1',
    '--port',
    String(gw.broker.tlsPort),
    '--ca',
    paths.kgcRootCert,
    '--cert',
    join(paths.deviceDir(dev), 'device.cert.pem'),
    '--key',
    join(paths.deviceDir(dev), 'device.key.pem'),
    '--dev',
    dev,
    '--frames',
    String(N),
    '--bad',
    bad,
  ];
}

/** The outcome every client run must show, and the store's side of it. */
function expectRun(
  r: { code: number | null; lines: ClientLine[]; stderr: string },
  dev: string,
  bad: { seq: number | null; code: string },
): void {
  const context = JSON.stringify({ lines: r.lines, stderr: r.stderr.slice(0, 2000) });
  expect(r.code, context).toBe(0);
  expect(r.lines.at(-1), context).toEqual({ kind: 'done', ok: true, error: null });
  const pubacks = r.lines.filter((l) => l.kind === 'puback');
  expect(pubacks.map((l) => l.seq)).toEqual([...Array.from({ length: N }, (_, i) => i + 1), bad.seq]);
  for (const p of pubacks) expect(p.topic).toBe(`vt/v1/dev/${dev}/frames`);
  const rejects = r.lines.filter((l) => l.kind === 'reject');
  expect(rejects.map(({ topic, seq, code }) => ({ topic, seq, code }))).toEqual([
    { topic: `vt/v1/dev/${dev}/rejects`, seq: bad.seq, code: bad.code },
  ]);
  // Stored: seq 1..N, one chain (prev = hash of the frame before), nothing beyond.
  let prev: Uint8Array = new Uint8Array(32);
  for (let seq = 1; seq <= N; seq++) {
    const row = gw.store.getFrame(dev, seq);
    expect(row, `${dev} seq ${seq} stored`).toBeDefined();
    expect(Buffer.from(row!.prev).equals(Buffer.from(prev)), `${dev} seq ${seq} prev`).toBe(true);
    prev = row!.hash;
  }
  expect(gw.store.getFrame(dev, N + 1)).toBeUndefined();
}

beforeAll(async () => {
  missing = missingTools();
  tmp = makeTempDir('vt-device-kit-');
  cBinary = join(tmp.dir, 'vt_device');
  // A compile error is the C client's failure, reported by each of its tests.
  if (missing.c.length === 0) await compileC(cBinary).catch((err: Error) => missing.c.push(err.message));
  paths = await prepareDataDir(join(tmp.dir, 'data'), DEVICES);
  // The gateway certificate names localhost and 127.0.0.1 too: the clients check the host name.
  gw = await startMtlsGateway(paths);
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  tmp?.cleanup();
});

describe('device kit: example clients against a real gateway (mutual TLS)', () => {
  it('behavior: Python (paho-mqtt + cryptography): N frames acked and stored, a flipped signature byte is bad_signature', async () => {
    requireTools('python');
    const r = await run(PYTHON, [PY_CLIENT, ...clientArgs('kit-py-01', 'signature')]);
    expectRun(r, 'kit-py-01', { seq: N + 1, code: 'bad_signature' });
  });

  it('behavior: Python: bytes that are no frame are malformed with seq null', async () => {
    requireTools('python');
    const r = await run(PYTHON, [PY_CLIENT, ...clientArgs('kit-py-02', 'malformed')]);
    expectRun(r, 'kit-py-02', { seq: null, code: 'malformed' });
  });

  it('behavior: C (libmosquitto + libcbor + OpenSSL): N frames acked and stored, a flipped signature byte is bad_signature', async () => {
    requireTools('c');
    const r = await run(cBinary, clientArgs('kit-c-01', 'signature'));
    expectRun(r, 'kit-c-01', { seq: N + 1, code: 'bad_signature' });
  });

  it('behavior: C: bytes that are no frame are malformed with seq null', async () => {
    requireTools('c');
    const r = await run(cBinary, clientArgs('kit-c-02', 'malformed'));
    expectRun(r, 'kit-c-02', { seq: null, code: 'malformed' });
  });
});

describe('device kit: the clients encode exactly as the vectors say', () => {
  const vectors = JSON.parse(readFileSync(FRAMES_JSON, 'utf8')) as {
    frames: { name: string; body: { ts: number; dev: string }; [field: string]: unknown }[];
  };

  it('behavior: the Python client reproduces every frame of frames.json and verifies its signatures', async () => {
    requireTools('python');
    const r = await run(PYTHON, [PY_CLIENT, '--self-test', FRAMES_JSON]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines.filter((l) => l.kind === 'vector').length).toBe(vectors.frames.length);
    expect(r.lines.at(-1)).toEqual({ kind: 'done', ok: true, error: null });
  });

  it('behavior: the C client writes es256-first byte for byte, and its own signature verifies', async () => {
    requireTools('c');
    const first = vectors.frames[0]!;
    const keyPath = join(ROOT, DEVICE_KIT_KEY_PATH);
    const r = await run(cBinary, [
      '--key',
      keyPath,
      '--dev',
      first.body.dev,
      '--dump-ts',
      String(first.body.ts),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const dump = r.lines[0] as unknown as Record<string, string>;
    for (const f of ['body_cbor', 'protected_header', 'sig_structure']) expect(dump[f], f).toBe(first[f]);
    const frame = decodeFrame(new Uint8Array(Buffer.from(dump.frame!, 'hex')));
    expect(Buffer.from(frame.payload).toString('hex')).toBe(first.body_cbor);
    expect(verifyFrameSignature(frame, createPublicKey(readFileSync(keyPath)))).toBe(true);
  });
});
