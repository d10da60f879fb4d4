/**
 * @module test/helpers/black-hole
 * A black-hole peer on 127.0.0.1: a real TCP server that accepts every connection, reads
 * whatever is sent and never answers (a JSON-RPC node or a network path that hangs, not one
 * that refuses). With a target port it first forwards to it (a real node behind it) until
 * `swallow()`: then the connections it forwards freeze (kept open, nothing passes either way)
 * and new ones are swallowed. `close()` destroys every connection and stops listening.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface BlackHole {
  /** http://127.0.0.1:<port> (for a JSON-RPC URL). */
  url: string;
  port: number;
  /** Connections swallowed so far (accepted and never answered). */
  readonly swallowed: number;
  /** Bytes read from swallowed or frozen connections since `swallow()` (requests left unanswered). */
  readonly unanswered: number;
  /** From now on nothing is answered: forwarded connections freeze, new ones are swallowed. */
  swallow(): void;
  close(): Promise<void>;
}

export async function startBlackHole(target?: number): Promise<BlackHole> {
  const open = new Set<Socket>();
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let holing = target === undefined;
  let swallowed = 0;
  let unanswered = 0;
  const hole = (sock: Socket) => {
    sock.removeAllListeners('data');
    sock.on('data', (d: Buffer) => {
      unanswered += d.length;
    });
    sock.resume(); // read everything, answer nothing
  };
  const server = createServer((client) => {
    open.add(client);
    client.on('error', () => {});
    client.on('close', () => open.delete(client));
    if (holing) {
      swallowed += 1;
      hole(client);
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: target as number });
    open.add(upstream);
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => open.delete(upstream));
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    pairs.add({ client, upstream });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get swallowed() {
      return swallowed;
    },
    get unanswered() {
      return unanswered;
    },
    swallow() {
      holing = true;
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        upstream.pause(); // the node's answers stay where they are
        hole(client);
      }
      pairs.clear();
    },
    close() {
      for (const s of open) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
