/**
 * @module test/helpers/ports
 * A TCP port on 127.0.0.1 that nothing listens on right now (bound to port 0, then closed):
 * for a server a test starts next (the gateway's PCD-05 listener, a sink), or for "nothing
 * listens there" errors; `restartablePort` for a server started again on the same port.
 */
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * A free port below the kernel's ephemeral range (Linux `ip_local_port_range`, 32768 by
 * default), for a server a test starts again and again on the same port: between two starts
 * an ephemeral port can be taken by any outgoing connection on the machine as its local port
 * (the parallel suite makes many), and the next start's listen fails with EADDRINUSE. Ports
 * below the range are never handed out that way.
 */
export async function restartablePort(): Promise<number> {
  let low = 32768;
  try {
    low =
      Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // Not Linux: the common default.
  }
  const from = Math.max(1024, low - 12_000);
  for (let tries = 0; tries < 50; tries += 1) {
    const port = from + Math.floor(Math.random() * (low - from));
    const srv = createServer();
    const ok = await new Promise<boolean>((r) => {
      srv.once('error', () => r(false));
      srv.listen(port, '127.0.0.1', () => r(true));
    });
    if (ok) {
      await new Promise<void>((r) => srv.close(() => r()));
      return port;
    }
  }
  throw new Error('restartablePort: no free port below the ephemeral range');
}
