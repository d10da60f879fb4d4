/**
 * @module anchor/ledger/ports
 * Free loopback TCP ports, for services we spawn (anvil) or bind ourselves.
 */
import { createServer } from 'node:net';

/** Asks the kernel for a free port on 127.0.0.1 and releases it. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
