/**
 * @module test/helpers/mqtt-corpus
 * A runner for Eclipse Mosquitto's packet-level conformance corpus (test/vectors/mqtt-corpus,
 * upstream `test/broker/data/*.json`), reproducing the semantics of Mosquitto's own harness
 * (`test/broker/msg_sequence_test.py` with `test/mosq_test.py`) against any broker on a TCP
 * port:
 *
 * - with `connect` (default true), the harness's default CONNECT
 *   `gen_connect(client_id, keepalive=60, proto_ver=ver)` (clean session) is sent and CONNACK
 *   rc 0 (`20 02 00 00`) expected. The client id is `corpus-<index>` instead of the
 *   harness's test name, so that a broker admitting only device-id-shaped ids
 *   (`/^[A-Za-z0-9._-]{1,64}$/`, PROTOCOL.md §1) still lets the case in;
 * - `send` writes the bytes as given; `recv` reads exactly as many bytes as expected (the
 *   harness does one `recv(len)`) within the timeout and compares them byte for byte;
 * - `publish` is the harness's helper client: a second connection as client id `helper`
 *   (v3.1.1, clean, keepalive 60) that expects CONNACK rc 0, publishes `payload` (UTF-8)
 *   to `topic` and completes the QoS 1 (PUBACK) or QoS 2 (PUBREC, PUBREL, PUBCOMP) flow
 *   with packet id 1, then closes;
 * - the final check: with `expect_disconnect` (default true) the broker must close the
 *   connection within the timeout: a read returns EOF or ECONNRESET, and any byte read
 *   instead fails the case, as the harness's `recv(1)` does ("Still connected");
 *   without it, a PINGREQ must be answered by exactly PINGRESP (`d0 00`);
 * - every socket operation has its own timeout (the harness: 2 s; here `timeoutMs`,
 *   default 1500 ms), and a timeout is a failure.
 *
 * Choices beyond the harness, which reads `ver`, `connect` and `expect_disconnect` from
 * each test only: the group's values are defaults and the test's own fields override them
 * (the corpus README's format). The selection that applies to an MQTT 3.1.1 broker is every
 * test of a group whose `ver` is 4, plus the REGRESSIONS groups: 268 cases (one of them,
 * `CONNACK/v3.1.1 CONNACK/issue 2163 v3`, overrides `ver` to 3 and so connects with the
 * v3.1 `MQIsdp` CONNECT). The BROKER CHECK group is left out. A group with `disable` is
 * skipped, as in the harness.
 *
 * Cases run concurrently (bounded), but never in a way the sequential harness could not
 * observe: two cases that share a client id, or where one publishes (a PUBLISH, a will
 * or the helper's publish) to a topic the other subscribes to, or that both retain on
 * one topic, run one after the other in corpus order (see `caseFootprint`), as do all
 * REGRESSIONS cases, whose comments chain them ("part 1 … part 2"). Every other case is
 * independent: its default client id is its own.
 *
 * Trust: the corpus is fixed test data, but its bytes are hostile on purpose; the
 * footprint parser reads them leniently and never throws.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mqttString, remainingLength } from './mqtt-packets.js';

/** The size of the v3.1.1 selection (ver 4 groups plus REGRESSIONS) of the current corpus. */
export const CORPUS_V311_CASES = 268;

/** The harness's per-operation socket timeout is 2 s; this runner's default. */
export const DEFAULT_TIMEOUT_MS = 1500;
export const DEFAULT_CONCURRENCY = 16;

/** The corpus in this checkout (works from test/helpers and from dist/test/helpers). */
export const DEFAULT_CORPUS_DIR: string = (() => {
  for (const rel of ['../vectors/mqtt-corpus', '../../../test/vectors/mqtt-corpus']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    try {
      if (readdirSync(dir).some((f) => f.endsWith('.json'))) return dir;
    } catch {
      // not this layout
    }
  }
  return fileURLToPath(new URL('../vectors/mqtt-corpus', import.meta.url));
})();

export type CorpusMessage =
  | { type: 'send'; bytes: Buffer; comment: string }
  | { type: 'recv'; bytes: Buffer; comment: string }
  | { type: 'publish'; topic: string; qos: 0 | 1 | 2; payload: string; comment: string };

export interface CorpusCase {
  /** `<file>/<group>/<name>`: file without `.json`, group and name trimmed of surrounding spaces. */
  id: string;
  /** Position in the selection (0-based); the default client id is `corpus-<index>`. */
  index: number;
  file: string;
  group: string;
  /** The test's name as written (some end in a space). */
  name: string;
  /** Protocol level of the default CONNECT: 3 (v3.1), 4 (v3.1.1) or 5. */
  ver: number;
  connect: boolean;
  expectDisconnect: boolean;
  msgs: CorpusMessage[];
}

export interface CorpusResult {
  id: string;
  pass: boolean;
  /** Why the case failed: the step, what the corpus expected and what the broker did; '' on a pass. */
  why: string;
  ms: number;
}

export interface RunCorpusOptions {
  host: string;
  port: number;
  cases: readonly CorpusCase[];
  /** Per socket operation (connect, each recv, the final check). Default 1500 ms. */
  timeoutMs?: number;
  /** Cases in flight at once. Default 16. */
  concurrency?: number;
  /** Called as each case finishes (in completion order). */
  onResult?: (r: CorpusResult) => void;
}

// ---------------------------------------------------------------------------------------
// Loading

interface RawMessage {
  type?: unknown;
  payload?: unknown;
  topic?: unknown;
  qos?: unknown;
  comment?: unknown;
}
interface RawTest {
  name?: unknown;
  ver?: unknown;
  connect?: unknown;
  expect_disconnect?: unknown;
  msgs?: unknown;
}
interface RawGroup {
  group?: unknown;
  ver?: unknown;
  connect?: unknown;
  expect_disconnect?: unknown;
  disable?: unknown;
  tests?: unknown;
}

/** The groups that apply to an MQTT 3.1.1 broker: group `ver` 4, and the REGRESSIONS groups. */
export function selectsGroup(g: { group: string; ver?: unknown }): boolean {
  if (g.group === 'BROKER CHECK') return false;
  return g.ver === 4 || g.group === 'REGRESSIONS';
}

function hexBytes(hex: unknown, where: string): Buffer {
  if (typeof hex !== 'string') throw new TypeError(`${where}: payload is not a string`);
  const clean = hex.replaceAll(' ', ''); // bytes.fromhex(payload.replace(" ", ""))
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new TypeError(`${where}: payload is not hex`);
  return Buffer.from(clean, 'hex');
}

function optBool(v: unknown, where: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new TypeError(`${where} is not a boolean`);
  return v;
}

function optVer(v: unknown, where: string): number | undefined {
  if (v === undefined) return undefined;
  if (v !== 3 && v !== 4 && v !== 5) throw new TypeError(`${where} is not 3, 4 or 5`);
  return v;
}

/**
 * Loads the v3.1.1 selection of the corpus in `dir` (every `*.json`, in sorted file order,
 * groups and tests in file order, as the harness walks them).
 * @throws {TypeError} on a malformed file or a duplicate case id.
 * @example loadCorpus(DEFAULT_CORPUS_DIR).length // 268
 */
export function loadCorpus(dir: string = DEFAULT_CORPUS_DIR): CorpusCase[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const cases: CorpusCase[] = [];
  const ids = new Set<string>();
  for (const file of files) {
    const groups = JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown;
    if (!Array.isArray(groups)) throw new TypeError(`${file}: not an array of groups`);
    for (const g of groups as RawGroup[]) {
      if (typeof g.group !== 'string' || !Array.isArray(g.tests))
        throw new TypeError(`${file}: group without name or tests`);
      if (g.disable === true) continue;
      if (!selectsGroup({ group: g.group, ver: g.ver })) continue;
      const gWhere = `${file} ${g.group}`;
      const gVer = optVer(g.ver, `${gWhere} ver`);
      const gConnect = optBool(g.connect, `${gWhere} connect`);
      const gExpect = optBool(g.expect_disconnect, `${gWhere} expect_disconnect`);
      for (const t of g.tests as RawTest[]) {
        if (typeof t.name !== 'string' || !Array.isArray(t.msgs))
          throw new TypeError(`${gWhere}: test without name or msgs`);
        const where = `${gWhere} ${t.name}`;
        const msgs = (t.msgs as RawMessage[]).map((m, i): CorpusMessage => {
          const at = `${where} msgs[${i}]`;
          const comment = typeof m.comment === 'string' ? m.comment : '';
          if (m.type === 'send' || m.type === 'recv')
            return { type: m.type, bytes: hexBytes(m.payload, at), comment };
          if (m.type === 'publish') {
            if (typeof m.topic !== 'string' || typeof m.payload !== 'string')
              throw new TypeError(`${at}: publish needs a topic and a payload`);
            if (m.qos !== 0 && m.qos !== 1 && m.qos !== 2) throw new TypeError(`${at}: publish qos`);
            return { type: 'publish', topic: m.topic, qos: m.qos, payload: m.payload, comment };
          }
          throw new TypeError(`${at}: unknown message type`);
        });
        const id = `${file.replace(/\.json$/, '')}/${g.group.trim()}/${t.name.trim()}`;
        if (ids.has(id)) throw new TypeError(`duplicate corpus case id: ${id}`);
        ids.add(id);
        cases.push({
          id,
          index: cases.length,
          file,
          group: g.group,
          name: t.name,
          ver: optVer(t.ver, `${where} ver`) ?? gVer ?? 4,
          connect: optBool(t.connect, `${where} connect`) ?? gConnect ?? true,
          expectDisconnect: optBool(t.expect_disconnect, `${where} expect_disconnect`) ?? gExpect ?? true,
          msgs,
        });
      }
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// Packets, as mosq_test generates them (v3.1 and v3.1.1)

/** mosq_test.gen_connect(clientId, keepalive, proto_ver) with clean session, no will, no credentials. */
export function genConnect(clientId: string, keepalive = 60, protoVer = 4): Buffer {
  if (protoVer !== 3 && protoVer !== 4)
    throw new RangeError(`protoVer: the default CONNECT is implemented for 3 and 4, not ${protoVer}`);
  const header = Buffer.alloc(4);
  header[0] = protoVer;
  header[1] = 0x02; // clean session
  header.writeUInt16BE(keepalive, 2);
  const body = Buffer.concat([mqttString(protoVer === 3 ? 'MQIsdp' : 'MQTT'), header, mqttString(clientId)]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

export function genConnack(rc = 0, flags = 0): Buffer {
  return Buffer.from([0x20, 0x02, flags, rc]);
}

/** mosq_test.gen_publish(topic, qos, payload, mid) (v3.1.1: no properties). */
export function genPublish(topic: string, qos: 0 | 1 | 2, payload: string, mid = 0): Buffer {
  const parts = [mqttString(topic)];
  if (qos > 0) {
    const m = Buffer.alloc(2);
    m.writeUInt16BE(mid);
    parts.push(m);
  }
  parts.push(Buffer.from(payload, 'utf8'));
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x30 | (qos << 1)]), remainingLength(body.length), body]);
}

function withMid(cmd: number, mid: number): Buffer {
  return Buffer.from([cmd, 0x02, mid >> 8, mid & 0xff]);
}
export const genPuback = (mid: number): Buffer => withMid(0x40, mid);
export const genPubrec = (mid: number): Buffer => withMid(0x50, mid);
export const genPubrel = (mid: number): Buffer => withMid(0x62, mid);
export const genPubcomp = (mid: number): Buffer => withMid(0x70, mid);
export const PINGREQ: Buffer = Buffer.from([0xc0, 0x00]);
export const PINGRESP: Buffer = Buffer.from([0xd0, 0x00]);

// ---------------------------------------------------------------------------------------
// Describing what came back (for the failure reasons)

export function hex(b: Uint8Array, max = 48): string {
  const parts = Array.from(b.subarray(0, max), (x) => x.toString(16).padStart(2, '0'));
  return parts.join(' ') + (b.length > max ? ` …(+${b.length - max})` : '');
}

const CONNACK_RC = [
  'accepted',
  'bad protocol version',
  'identifier rejected',
  'server unavailable',
  'bad credentials',
  'not authorized',
];
const NAMES = [
  'reserved(0)',
  'CONNECT',
  'CONNACK',
  'PUBLISH',
  'PUBACK',
  'PUBREC',
  'PUBREL',
  'PUBCOMP',
  'SUBSCRIBE',
  'SUBACK',
  'UNSUBSCRIBE',
  'UNSUBACK',
  'PINGREQ',
  'PINGRESP',
  'DISCONNECT',
  'AUTH',
];

/** A short reading of the first packet in `b` (possibly truncated), e.g. `SUBACK mid=4660 [0x80]`. */
export function describePacket(b: Uint8Array): string {
  if (b.length === 0) return 'nothing';
  const first = b[0]!;
  const name = NAMES[first >> 4]!;
  let rl = 0;
  let mult = 1;
  let off = 1;
  for (; off < b.length && off <= 4; off++) {
    rl += (b[off]! & 0x7f) * mult;
    mult *= 128;
    if ((b[off]! & 0x80) === 0) break;
  }
  off += 1;
  const body = b.subarray(off, off + rl);
  const u16 = (i: number) => (body.length >= i + 2 ? (body[i]! << 8) | body[i + 1]! : undefined);
  const flags = first & 0x0f;
  const fl = flags ? ` flags=0x${flags.toString(16)}` : '';
  switch (first >> 4) {
    case 2:
      return `CONNACK${fl} sp=${body[0] ?? '?'} rc=${body[1] ?? '?'}${body[1] !== undefined && CONNACK_RC[body[1]] ? ` (${CONNACK_RC[body[1]]})` : ''}${rl !== 2 ? ` rl=${rl}` : ''}`;
    case 3: {
      const qos = (flags >> 1) & 3;
      const tl = u16(0) ?? 0;
      const topic = Buffer.from(body.subarray(2, 2 + tl)).toString('latin1');
      const mid = qos > 0 ? ` mid=${u16(2 + tl)}` : '';
      return `PUBLISH qos=${qos}${flags & 1 ? ' retain' : ''}${flags & 8 ? ' dup' : ''} topic=${JSON.stringify(topic)}${mid}`;
    }
    case 4:
    case 5:
    case 6:
    case 7:
    case 11:
      return `${name}${fl} mid=${u16(0) ?? '?'}${rl !== 2 ? ` rl=${rl}` : ''}`;
    case 9:
      return `SUBACK${fl} mid=${u16(0) ?? '?'} [${Array.from(body.subarray(2), (x) => `0x${x.toString(16).padStart(2, '0')}`).join(',')}]`;
    default:
      return `${name}${fl} rl=${rl}`;
  }
}

// ---------------------------------------------------------------------------------------
// A TCP connection with the harness's blocking-socket semantics

type ReadEnd = 'data' | 'eof' | 'error' | 'timeout';
interface ReadResult {
  end: ReadEnd;
  /** The bytes read: exactly n when `end` is 'data' (possibly not matching), fewer otherwise. */
  bytes: Buffer;
  code?: string;
}

class CorpusConnection {
  private buf: Buffer = Buffer.alloc(0);
  private eof = false;
  private error: (Error & { code?: string }) | null = null;
  private wake: (() => void) | null = null;

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.notify();
    });
    sock.on('end', () => {
      this.eof = true;
      this.notify();
    });
    sock.on('error', (e: Error & { code?: string }) => {
      this.error ??= e;
      this.notify();
    });
    sock.on('close', () => this.notify());
  }

  /** Connects within `timeoutMs` (the harness's socket timeout applies to connect too). */
  static open(host: string, port: number, timeoutMs: number): Promise<CorpusConnection> {
    return new Promise((resolve, reject) => {
      // allowHalfOpen: a peer's FIN does not end our side, so later sends still reach the
      // kernel as the harness's do (a broker that closed answers them with RST).
      const sock = netConnect({ host, port, allowHalfOpen: true });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.setNoDelay(true);
        resolve(new CorpusConnection(sock));
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private changed(untilMs: number): Promise<boolean> {
    const left = untilMs - Date.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve(false);
      }, left);
      this.wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  /** `sock.send(bytes)`: fails (as the harness's would raise) once the connection was reset. */
  async send(bytes: Buffer): Promise<void> {
    if (this.error) throw this.error;
    if (this.sock.destroyed) throw Object.assign(new Error('socket closed'), { code: 'ECONNRESET' });
    await new Promise<void>((resolve, reject) => {
      this.sock.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * Reads exactly `n` bytes within `timeoutMs`. With `expect`, stops early once the bytes
   * read already differ from it (the outcome, a mismatch, is the same), after a short
   * grace to see the rest of what the broker sent.
   */
  async read(n: number, timeoutMs: number, expect?: Buffer): Promise<ReadResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= n) return { end: 'data', bytes: this.take(n) };
      if (expect && this.buf.length > 0 && !expect.subarray(0, this.buf.length).equals(this.buf)) {
        const grace = Math.min(Date.now() + 50, deadline);
        while (this.buf.length < n && !this.eof && !this.error && (await this.changed(grace))) {}
        return { end: 'data', bytes: this.take(Math.min(n, this.buf.length)) };
      }
      if (this.error) return { end: 'error', bytes: this.take(this.buf.length), code: codeOf(this.error) };
      if (this.eof || this.sock.destroyed) return { end: 'eof', bytes: this.take(this.buf.length) };
      if (!(await this.changed(deadline))) return { end: 'timeout', bytes: this.take(this.buf.length) };
    }
  }

  /** What is buffered, without consuming it (after a short grace for the rest of a packet). */
  async peekAll(graceMs = 50): Promise<Buffer> {
    const until = Date.now() + graceMs;
    while (await this.changed(until)) {}
    return this.buf;
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  close(): void {
    this.sock.destroy();
  }
}

function codeOf(e: Error & { code?: string }): string {
  return e.code ?? e.message;
}

class CaseFailure extends Error {}

function got(r: ReadResult): string {
  const what = r.bytes.length ? `${hex(r.bytes)} [${describePacket(r.bytes)}]` : '';
  switch (r.end) {
    case 'data':
      return `got ${what}`;
    case 'eof':
      return r.bytes.length ? `got ${what} then EOF (closed)` : 'got EOF (closed)';
    case 'error':
      return r.bytes.length ? `got ${what} then ${r.code}` : `got ${r.code}`;
    case 'timeout':
      return r.bytes.length ? `got only ${what}, then nothing (timeout)` : 'got nothing (timeout)';
  }
}

async function expectBytes(
  c: CorpusConnection,
  expected: Buffer,
  timeoutMs: number,
  label: string,
): Promise<void> {
  const r = await c.read(expected.length, timeoutMs, expected);
  if (r.end === 'data' && r.bytes.equals(expected)) return;
  throw new CaseFailure(`${label}: expected ${hex(expected)} [${describePacket(expected)}], ${got(r)}`);
}

async function sendBytes(c: CorpusConnection, bytes: Buffer, label: string): Promise<void> {
  try {
    await c.send(bytes);
  } catch (err) {
    throw new CaseFailure(`${label}: send failed with ${codeOf(err as Error)} (connection already closed)`);
  }
}

// ---------------------------------------------------------------------------------------
// Running one case

/** The harness's `_publish_message`: client `helper`, QoS 0, 1 or 2 flow with mid 1, then close. */
async function helperPublish(
  host: string,
  port: number,
  m: Extract<CorpusMessage, { type: 'publish' }>,
  timeoutMs: number,
  label: string,
): Promise<void> {
  let c: CorpusConnection;
  try {
    c = await CorpusConnection.open(host, port, timeoutMs);
  } catch (err) {
    throw new CaseFailure(`${label}: helper could not connect: ${codeOf(err as Error)}`);
  }
  try {
    await sendBytes(c, genConnect('helper', 60, 4), `${label}: helper CONNECT`);
    await expectBytes(c, genConnack(0), timeoutMs, `${label}: helper CONNACK`);
    // The harness calls gen_publish without qos for QoS 0, which raises TypeError there; the
    // corpus has no QoS 0 helper publish. Here QoS 0 is the plain publish it clearly means.
    if (m.qos === 0) {
      await sendBytes(c, genPublish(m.topic, 0, m.payload), `${label}: helper PUBLISH`);
    } else if (m.qos === 1) {
      await sendBytes(c, genPublish(m.topic, 1, m.payload, 1), `${label}: helper PUBLISH`);
      await expectBytes(c, genPuback(1), timeoutMs, `${label}: helper PUBACK`);
    } else {
      await sendBytes(c, genPublish(m.topic, 2, m.payload, 1), `${label}: helper PUBLISH`);
      await expectBytes(c, genPubrec(1), timeoutMs, `${label}: helper PUBREC`);
      await sendBytes(c, genPubrel(1), `${label}: helper PUBREL`);
      await expectBytes(c, genPubcomp(1), timeoutMs, `${label}: helper PUBCOMP`);
    }
  } finally {
    c.close();
  }
}

/** The harness's `_disconnected_check` with expect_disconnect: EOF or ECONNRESET, and no byte first. */
async function disconnectedCheck(c: CorpusConnection, timeoutMs: number): Promise<void> {
  const r = await c.read(1, timeoutMs);
  if (r.end === 'eof') return;
  if (r.end === 'error' && r.code === 'ECONNRESET') return;
  const label = 'final check (expect disconnect)';
  if (r.end === 'data') {
    const rest = Buffer.concat([r.bytes, await c.peekAll()]);
    throw new CaseFailure(`${label}: still connected, received ${hex(rest)} [${describePacket(rest)}]`);
  }
  if (r.end === 'timeout')
    throw new CaseFailure(`${label}: still connected after ${timeoutMs} ms (no close)`);
  throw new CaseFailure(`${label}: read failed with ${r.code}`);
}

/** The harness's `_connected_check`: PINGREQ answered by PINGRESP. */
async function connectedCheck(c: CorpusConnection, timeoutMs: number): Promise<void> {
  const label = 'final check (PINGREQ)';
  await sendBytes(c, PINGREQ, label);
  await expectBytes(c, PINGRESP, timeoutMs, label);
}

function stepLabel(i: number, total: number, m: CorpusMessage): string {
  const what = m.type === 'publish' ? `publish qos ${m.qos} to ${JSON.stringify(m.topic)}` : m.type;
  return `msg ${i + 1}/${total} ${what}${m.comment ? ` (${m.comment})` : ''}`;
}

/** Runs one case against host:port; never throws. */
export async function runCase(
  host: string,
  port: number,
  c: CorpusCase,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<CorpusResult> {
  const t0 = Date.now();
  const done = (why: string): CorpusResult => ({ id: c.id, pass: why === '', why, ms: Date.now() - t0 });
  let conn: CorpusConnection;
  try {
    conn = await CorpusConnection.open(host, port, timeoutMs);
  } catch (err) {
    return done(`connect: ${codeOf(err as Error)}`);
  }
  try {
    if (c.connect) {
      await sendBytes(conn, genConnect(`corpus-${c.index}`, 60, c.ver), 'default CONNECT');
      await expectBytes(conn, genConnack(0), timeoutMs, 'default CONNECT');
    }
    for (const [i, m] of c.msgs.entries()) {
      const label = stepLabel(i, c.msgs.length, m);
      if (m.type === 'send') await sendBytes(conn, m.bytes, label);
      else if (m.type === 'recv') await expectBytes(conn, m.bytes, timeoutMs, label);
      else await helperPublish(host, port, m, timeoutMs, label);
    }
    if (c.expectDisconnect) await disconnectedCheck(conn, timeoutMs);
    else await connectedCheck(conn, timeoutMs);
    return done('');
  } catch (err) {
    if (err instanceof CaseFailure) return done(err.message);
    return done(`runner error: ${(err as Error)?.message ?? String(err)}`);
  } finally {
    conn.close();
  }
}

// ---------------------------------------------------------------------------------------
// Which cases may overlap

export interface CaseFootprint {
  /** Client ids this case connects as, other than its own `corpus-<index>`. */
  clientIds: Set<string>;
  /** Topic filters it subscribes to (bytes read as latin1). */
  filters: string[];
  /** Topics it publishes to, including wills and helper publishes. */
  publishes: { topic: string; retain: boolean }[];
}

/**
 * What a case could share with another through the broker, from its `send` bytes read
 * leniently (a broker that accepts a malformed packet would read it the same way):
 * CONNECT client ids and will topics, PUBLISH topics, SUBSCRIBE filters; plus `helper`
 * and its topics for `publish` messages.
 */
export function caseFootprint(c: CorpusCase): CaseFootprint {
  const fp: CaseFootprint = { clientIds: new Set(), filters: [], publishes: [] };
  const stream = Buffer.concat(c.msgs.flatMap((m) => (m.type === 'send' ? [m.bytes] : [])));
  let off = 0;
  while (off < stream.length) {
    const first = stream[off]!;
    let rl = 0;
    let mult = 1;
    let p = off + 1;
    let complete = false;
    for (let i = 0; i < 4 && p < stream.length; i++, p++) {
      rl += (stream[p]! & 0x7f) * mult;
      mult *= 128;
      if ((stream[p]! & 0x80) === 0) {
        complete = true;
        p++;
        break;
      }
    }
    if (!complete) break; // a broker cannot read past a bad or cut remaining length either
    const body = stream.subarray(p, Math.min(p + rl, stream.length));
    readPacket(first, body, fp);
    off = p + rl;
  }
  for (const m of c.msgs) {
    if (m.type !== 'publish') continue;
    fp.clientIds.add('helper');
    fp.publishes.push({ topic: m.topic, retain: false });
  }
  return fp;
}

function readPacket(first: number, body: Buffer, fp: CaseFootprint): void {
  let at = 0;
  const str = (): string | undefined => {
    if (at + 2 > body.length) return undefined;
    const len = body.readUInt16BE(at);
    const s = body.subarray(at + 2, Math.min(at + 2 + len, body.length)).toString('latin1');
    at += 2 + len;
    return s;
  };
  switch (first >> 4) {
    case 1: {
      str(); // protocol name
      at += 1; // level
      const flags = body[at] ?? 0;
      at += 3; // flags, keepalive
      const id = str();
      // An empty id gets a fresh one from the broker (clean session); keep it only when a
      // broker might create a shared persistent session for it.
      if (id !== undefined && (id !== '' || (flags & 0x02) === 0)) fp.clientIds.add(id);
      if (flags & 0x04) {
        const will = str();
        if (will !== undefined) fp.publishes.push({ topic: will, retain: (flags & 0x20) !== 0 });
      }
      return;
    }
    case 3: {
      const topic = str();
      if (topic !== undefined) fp.publishes.push({ topic, retain: (first & 1) === 1 });
      return;
    }
    case 8: {
      at = 2; // packet id
      for (let f = str(); f !== undefined; f = str()) {
        fp.filters.push(f);
        at += 1; // requested QoS
      }
      return;
    }
    default:
  }
}

/** MQTT topic matching, kept permissive: `$` topics are matched by wildcards too. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

function filterForms(filter: string): string[] {
  const m = /^\$share\/[^/]*\/(.*)$/.exec(filter);
  return m ? [filter, m[1]!] : [filter];
}

/** True when the two cases could see each other through the broker (so must not overlap). */
export function casesConflict(a: CaseFootprint, b: CaseFootprint): boolean {
  for (const id of a.clientIds) if (b.clientIds.has(id)) return true;
  const reaches = (x: CaseFootprint, y: CaseFootprint) =>
    x.publishes.some(
      (p) =>
        y.filters.some((f) => filterForms(f).some((g) => topicMatches(g, p.topic))) ||
        (p.retain && y.publishes.some((q) => q.retain && q.topic === p.topic)),
    );
  return reaches(a, b) || reaches(b, a);
}

/** For each case (by position), the earlier cases it must wait for. */
export function caseDependencies(cases: readonly CorpusCase[]): number[][] {
  const fps = cases.map(caseFootprint);
  return cases.map((c, j) => {
    const deps: number[] = [];
    for (let i = 0; i < j; i++) {
      const chained = c.group === 'REGRESSIONS' && cases[i]!.group === 'REGRESSIONS';
      if (chained || casesConflict(fps[i]!, fps[j]!)) deps.push(i);
    }
    return deps;
  });
}

// ---------------------------------------------------------------------------------------
// Running the corpus

/**
 * Runs `cases` against host:port, at most `concurrency` at once, conflicting cases in
 * corpus order (see `caseDependencies`). Resolves with one result per case, in `cases` order.
 * @example
 *   const results = await runCorpus({ host: '127.0.0.1', port, cases: loadCorpus() });
 *   results.filter((r) => r.pass).length; // e.g. 227 for Mosquitto 2.0.11
 */
export function runCorpus(opts: RunCorpusOptions): Promise<CorpusResult[]> {
  const { host, port, cases } = opts;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('concurrency: an integer ≥ 1');
  if (!(timeoutMs > 0)) throw new RangeError('timeoutMs: a positive number');
  const deps = caseDependencies(cases);
  const results: (CorpusResult | undefined)[] = new Array(cases.length);
  const started = new Array<boolean>(cases.length).fill(false);
  let running = 0;
  let finished = 0;
  return new Promise((resolve) => {
    const pump = () => {
      if (finished === cases.length) {
        resolve(results as CorpusResult[]);
        return;
      }
      for (let j = 0; j < cases.length && running < concurrency; j++) {
        if (started[j] || !deps[j]!.every((i) => results[i] !== undefined)) continue;
        started[j] = true;
        running++;
        void runCase(host, port, cases[j]!, timeoutMs).then((r) => {
          results[j] = r;
          running--;
          finished++;
          opts.onResult?.(r);
          pump();
        });
      }
    };
    pump();
  });
}
