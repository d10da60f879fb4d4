/**
 * @module test/integration/http-send-timeout
 * A response the client stops taking is ended (io/http/server `registerSendTimeout`): the real HTTP server
 * on a loopback port, real sockets. A page file of 24 MB stands for a large download (a
 * 6-hour FHIR export is of that size): more than the kernel's buffers on both ends hold, so
 * a client that stops reading leaves most of it in the gateway's memory. Before the timeout
 * such a connection was held, and its body with it, for as long as the client kept it open.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LiveHub } from '../../gateway/src/core/live.js';
import type { DroppedClient } from '../../gateway/src/io/http/route-contract.js';
import { type HttpServer, startHttpServer } from '../../gateway/src/io/http/server.js';
import { UserFile } from '../../gateway/src/io/identity/users.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const SEND_TIMEOUT_MS = 1000;
const LIVE_PING_MS = 400;
const BIG = 24 * 1024 * 1024;
const NURSE = { username: 'nurse.jo', password: 'ward-7-night-shift' };

interface RawGet {
  socket: Socket;
  /** Bytes received so far (headers included). */
  received: () => number;
  closed: Promise<number>;
}

/** A GET on a raw socket that stops reading once the first bytes arrive. */
function stalledGet(port: number, path: string): Promise<RawGet> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = 0;
    const t0 = Date.now();
    const closed = new Promise<number>((done) => socket.on('close', () => done(Date.now() - t0)));
    socket.on('error', () => {}); // a reset by the server is what some tests wait for
    socket.once('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`));
    let first = true;
    socket.on('data', (b: Buffer) => {
      received += b.length;
      if (!first) return;
      first = false;
      socket.pause(); // a laptop that went to sleep: nothing more is read
      resolve({ socket, received: () => received, closed });
    });
    socket.once('close', () => reject(new Error('closed before any byte')));
  });
}

describe('a response the client stops taking', () => {
  const tmp = makeTempDir();
  const stalled: DroppedClient[] = [];
  let srv: HttpServer;

  beforeAll(async () => {
    const pages = join(tmp.dir, 'pages');
    mkdirSync(pages);
    writeFileSync(join(pages, 'index.html'), '<!doctype html><title>ward</title>');
    writeFileSync(join(pages, 'big.js'), Buffer.alloc(BIG, 0x61));
    const users = new UserFile(join(tmp.dir, 'users.json'));
    await users.add(NURSE.username, 'nurse', NURSE.password);
    srv = await startHttpServer({
      hub: new LiveHub(),
      users,
      staticDir: pages,
      sendTimeoutMs: SEND_TIMEOUT_MS,
      onDropped: (s) => stalled.push(s),
      livePingMs: LIVE_PING_MS,
    });
  });

  afterAll(async () => {
    await srv?.close();
    tmp.cleanup();
  });

  it('error: a client that stops reading a large body is cut off after the timeout, and told once', async () => {
    const before = stalled.length;
    const t0 = Date.now();
    const get = await stalledGet(srv.port, '/big.js');
    await until(() => stalled.length > before, SEND_TIMEOUT_MS + 5_000, 'the stalled response ended');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(SEND_TIMEOUT_MS - 50);
    // The client wakes up: the connection is gone, with most of the body never sent.
    get.socket.resume();
    await get.closed;
    expect(get.received()).toBeLessThan(BIG);
    expect(stalled.slice(before)).toHaveLength(1);
    const s = stalled[before] as DroppedClient;
    expect(s.reason).toBe('send_timeout');
    expect(s.route).toBe('/big.js');
    expect(s.method).toBe('GET');
    expect(s.unsent).toBeGreaterThan(0); // the body the gateway held
  });

  it('a client that pauses for less than the timeout gets the whole body', async () => {
    const before = stalled.length;
    const get = await stalledGet(srv.port, '/big.js');
    await new Promise((r) => setTimeout(r, SEND_TIMEOUT_MS / 2));
    get.socket.resume();
    await until(() => get.received() > BIG, 20_000, 'the whole body');
    get.socket.destroy();
    expect(stalled.length).toBe(before);
  });

  it('neither an idle keep-alive connection nor the live socket is cut by it', async () => {
    // A small response, then the connection left idle past the timeout.
    const idle = connect(srv.port, '127.0.0.1');
    let text = '';
    idle.on('data', (b: Buffer) => {
      text += b.toString();
    });
    let idleClosed = false;
    idle.on('close', () => {
      idleClosed = true;
    });
    await new Promise((r) => idle.once('connect', r));
    idle.write('GET /index.html HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    await until(() => text.includes('</title>'), 5_000, 'the page');

    const login = await srv.app.inject({ method: 'POST', url: '/api/login', payload: NURSE });
    expect(login.statusCode).toBe(200);
    const cookie = String(login.headers['set-cookie']).split(';', 1)[0] as string;
    const ws = new WebSocket(`${srv.url.replace(/^http/, 'ws')}/ws`, { headers: { cookie } });
    let wsClosed = false;
    ws.on('close', () => {
      wsClosed = true;
    });
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    await new Promise((r) => setTimeout(r, SEND_TIMEOUT_MS * 2.5));
    expect(idleClosed).toBe(false);
    expect(wsClosed).toBe(false);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
    idle.destroy();
  });

  it('error: a live socket that reads nothing but sends pongs of its own is dropped (no_pong)', async () => {
    const login = await srv.app.inject({ method: 'POST', url: '/api/login', payload: NURSE });
    expect(login.statusCode).toBe(200);
    const cookie = String(login.headers['set-cookie']).split(';', 1)[0] as string;
    const open = async () => {
      const ws = new WebSocket(`${srv.url.replace(/^http/, 'ws')}/ws`, { headers: { cookie } });
      let closed = false;
      ws.on('close', () => {
        closed = true;
      });
      ws.on('error', () => {});
      await new Promise((r) => ws.once('open', r));
      return { ws, closed: () => closed };
    };
    const before = stalled.length;
    // A client that stopped reading (its socket paused: no ping is ever read, so none is
    // echoed) and still sends unsolicited pongs, which the gateway used to take as alive.
    const hostile = await open();
    const raw = (hostile.ws as unknown as { _socket: Socket })._socket;
    raw.pause();
    const pongs = setInterval(() => hostile.ws.pong(), LIVE_PING_MS / 4);
    // A page that reads: it answers each ping with its payload (ws does, as browsers do).
    const page = await open();
    try {
      await until(() => stalled.length > before, LIVE_PING_MS * 6, 'the silent socket dropped');
      expect(stalled.slice(before)).toEqual([
        { reason: 'no_pong', route: '/ws', method: 'GET', unsent: expect.any(Number) },
      ]);
      await new Promise((r) => setTimeout(r, LIVE_PING_MS * 3));
      expect(page.closed()).toBe(false);
      expect(stalled.length).toBe(before + 1);
    } finally {
      clearInterval(pongs);
      hostile.ws.terminate();
      page.ws.close();
    }
  });
});
