/**
 * @module test/helpers/ports
 * A TCP port on 127.0.0.1 that nothing listens on right now (bound to port 0, then closed):
 * for a server a test starts next (the gateway's PCD-05 listener, a sink), or for "nothing
 * listens there" errors.
 */
import { type AddressInfo, createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
