/**
 * @module test/integration/influx-deadline
 * The InfluxDB sink (io/outbound/influx-sink) against real black-hole peers: a node `net`
 * server on a loopback port that accepts the connection and reads the request but never
 * answers, or answers one byte every 300 ms. A probe with such peers found that a write
 * timed out only on an idle timeout (a trickling peer held one write for 361 s, and every
 * flush queued behind it), that a timed-out request kept its socket open (and with it the
 * gateway's process after its stop), and that nothing bounded the sink's close. Now every
 * write has an overall deadline (`timeoutMs`) at which its socket is destroyed and its batch
 * spilled, and close() returns within one deadline with what was in flight in the spill.
 */

import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type InfluxPoint,
  InfluxSink,
  readSpill,
  toLineProtocol,
} from '../../gateway/src/io/outbound/influx-sink.js';
import { recipientPair } from '../helpers/sealed.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

type PeerMode = 'hole' | 'trickle' | 'answer';

interface Peer {
  url: string;
  /** How new connections are treated: never answered, answered a byte per 300 ms, or 204. */
  mode: PeerMode;
  /** In mode `answer`: how long each request waits for its 204 (default 0). */
  answerDelayMs: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections still open on the peer's side. */
  readonly open: number;
  /** Bytes of requests the peer read (a hole reads everything). */
  readonly bytesRead: number;
  /** Bytes of answer the peer wrote (trickle). */
  readonly bytesWritten: number;
  /** Line-protocol lines the answering peer received (gunzipped when sent gzipped). */
  readonly received: string[];
  close(): Promise<void>;
}

const TRICKLE = 'HTTP/1.1 204 No Content\r\nX-Slow: 1\r\n\r\n';

async function startPeer(mode: PeerMode): Promise<Peer> {
  const sockets = new Set<Socket>();
  const received: string[] = [];
  let accepted = 0;
  let bytesRead = 0;
  let bytesWritten = 0;
  // The answering mode: a real HTTP server that takes the connection over.
  const http = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
      received.push(...text.toString('utf8').split('\n').filter(Boolean));
      setTimeout(() => res.writeHead(204).end(), peer.answerDelayMs);
    });
  });
  const peer = {
    mode,
    answerDelayMs: 0,
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    get bytesRead() {
      return bytesRead;
    },
    get bytesWritten() {
      return bytesWritten;
    },
    received,
  } as Peer;
  const server = createServer((sock) => {
    accepted += 1;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock)).on('error', () => {});
    if (peer.mode === 'answer') {
      http.emit('connection', sock);
      return;
    }
    let trickle: NodeJS.Timeout | undefined;
    sock.on('close', () => clearInterval(trickle));
    sock.on('data', (d: Buffer) => {
      bytesRead += d.length;
      if (peer.mode !== 'trickle' || trickle) return;
      let k = 0;
      trickle = setInterval(() => {
        if (k >= TRICKLE.length) return clearInterval(trickle);
        sock.write(TRICKLE[k++]!);
        bytesWritten += 1;
      }, 300);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  peer.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  peer.close = () => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return peer;
}

const point = (i: number): InfluxPoint => ({
  dev: 'wr-0001',
  ts: 1_700_000_000_000 + i * 1000,
  obs: { hr: 60 + (i % 40), spo2: 97 },
});
const lines = (from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, i) => toLineProtocol(point(from + i))!);

/** Milliseconds `fn` took. */
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

describe('influx sink against black-hole peers: every write has a deadline', () => {
  const tmp = makeTempDir('vt-influx-deadline-');
  const r = recipientPair('care', 'ec');
  const secrets = [{ kid: 'care', privateKey: r.privateKey }];
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function rig(mode: PeerMode, deadlineMs: number, name: string) {
    const peer = await startPeer(mode);
    const alarms: string[] = [];
    const spillFile = join(tmp.dir, `${name}.jwe`);
    const sink = new InfluxSink({
      url: peer.url,
      org: 'vitaltrail',
      bucket: 'ward',
      recipients: [r.recipient],
      spillFile,
      batchSize: 50,
      flushIntervalMs: 3_600_000, // flushed by the test only
      maxRetryDelayMs: 1000,
      timeoutMs: deadlineMs,
      onAlarm: (a) => alarms.push(a),
    });
    cleanups.push(
      async () => sink.close(),
      async () => peer.close(),
    );
    return { peer, sink, alarms, spillFile };
  }

  it('behavior: against a peer that never answers, a write fails at its deadline, its socket is closed, and later writes go through once the peer answers', async () => {
    const { peer, sink, alarms } = await rig('hole', 1000, 'hole');
    for (let i = 0; i < 20; i++) sink.write(point(i));
    const took = await timed(() => sink.flush());
    expect(peer.accepted).toBe(1);
    expect(peer.bytesRead).toBeGreaterThan(0); // the request reached the peer: a real hang
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(3000);
    expect(sink.stats).toMatchObject({ written: 0, spilled: 20, failures: 1, dropped: 0 });
    expect(sink.down).toBe(true);
    expect(alarms).toEqual(['server_unreachable']);
    // The timed-out request's socket is destroyed: the peer sees it close.
    await until(() => peer.open === 0, 3000, 'the hung connection closed');

    // The retry of the spill (after the 1 s backoff) hangs again: cut again, closed again.
    await new Promise((res) => setTimeout(res, 1100));
    for (let i = 20; i < 30; i++) sink.write(point(i));
    expect(await timed(() => sink.flush())).toBeLessThan(3000);
    expect(peer.accepted).toBe(2);
    expect(sink.stats).toMatchObject({ written: 0, spilled: 30, failures: 2 });
    await until(() => peer.open === 0, 3000, 'the second hung connection closed');

    // Nothing is stuck behind them: once the peer answers, the spill and the queue arrive, in order.
    peer.mode = 'answer';
    for (let i = 30; i < 40; i++) sink.write(point(i));
    const end = Date.now() + 10_000;
    while (sink.pending > 0 && Date.now() < end) {
      await sink.flush();
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(sink.pending).toBe(0);
    expect(sink.stats).toMatchObject({ written: 40, dropped: 0 });
    expect(peer.received).toEqual(lines(0, 40));
    expect(alarms).toEqual(['server_unreachable', 'recovered']);
    await sink.close();
    // The sink's keep-alive sockets are closed with it.
    await until(() => peer.open === 0, 3000, 'the keep-alive connection closed');
  }, 30_000);

  it('behavior: against a peer that trickles its answer a byte per 300 ms, a write is still cut at its deadline', async () => {
    // The idle timeout (the client's, also 1 s here) never trips: a byte comes every 300 ms.
    const { peer, sink } = await rig('trickle', 1000, 'trickle');
    for (let i = 0; i < 20; i++) sink.write(point(i));
    const took = await timed(() => sink.flush());
    expect(peer.bytesWritten).toBeGreaterThan(0); // the answer had begun
    expect(peer.bytesWritten).toBeLessThan(TRICKLE.length);
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(3000);
    expect(sink.stats).toMatchObject({ written: 0, spilled: 20, failures: 1, dropped: 0 });
    await until(() => peer.open === 0, 3000, 'the trickling connection closed');
    const sent = peer.bytesWritten;
    await new Promise((res) => setTimeout(res, 700));
    expect(peer.bytesWritten).toBe(sent); // nothing trickles into a closed socket
  }, 30_000);

  it('behavior: close() returns within the deadline while a write hangs, and every point is in the spill', async () => {
    const deadline = 2000;
    const { peer, sink, spillFile } = await rig('hole', deadline, 'close');
    for (let i = 0; i < 50; i++) sink.write(point(i)); // a full batch: sent at once, and hangs
    await until(() => peer.bytesRead > 0, 3000, 'the first write reached the peer');
    await new Promise((res) => setTimeout(res, deadline / 2));
    for (let i = 50; i < 70; i++) sink.write(point(i)); // queued behind it
    const took = await timed(() => sink.close());
    expect(took).toBeLessThan(deadline + 700);
    expect(sink.stats).toMatchObject({ written: 0, spilled: 70, dropped: 0 });
    expect(sink.pending).toBe(70);
    expect(() => sink.write(point(70))).toThrow(/closed/);
    await until(() => peer.open === 0, 3000, 'every hung connection closed');
    // Nothing accepted is lost: a recipient replays the spill, oldest first.
    expect(await readSpill(spillFile, secrets)).toEqual(lines(0, 70));
  }, 30_000);

  it('behavior: close() cuts a flush of many batches to a slow but answering server at one deadline, and spills the rest', async () => {
    // Each batch is answered after 600 ms, within its own 1 s deadline: only close()'s cut
    // bounds the whole flush (five batches, 3 s), so that a stop is never held by the sink.
    const { peer, sink, spillFile } = await rig('answer', 1000, 'slow');
    peer.answerDelayMs = 600;
    for (let i = 0; i < 250; i++) sink.write(point(i)); // five batches, flushing at once
    const took = await timed(() => sink.close());
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(1700);
    expect(sink.stats).toMatchObject({ written: 50, spilled: 200, dropped: 0 });
    expect(peer.received.slice(0, 50)).toEqual(lines(0, 50));
    await until(() => peer.open === 0, 3000, 'every connection closed');
    // The cut batch may have reached the server too: a resend overwrites (same series and ts).
    expect(await readSpill(spillFile, secrets)).toEqual(lines(50, 250));
  }, 30_000);
});
