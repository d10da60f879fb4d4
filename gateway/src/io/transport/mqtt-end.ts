/**
 * @module io/transport/mqtt-end
 * Ending an mqtt.js client toward the external broker within a bounded time.
 *
 * mqtt.js 5.16's `end(false)` first waits for the broker's PUBACKs of our QoS 1 publishes,
 * then sends DISCONNECT, half-closes the socket (FIN) and settles only on the socket's
 * `close` (client.js `_cleanUp`), which comes when the broker closes its side. A broker that
 * stopped reading but whose TCP stack still answers (a SIGSTOPped or hung Mosquitto, a
 * frozen VM) never closes: the socket sits in FIN-WAIT-2 and the gateway's stop never ends
 * (in the black-hole probe, SIGTERM took ~147 s, until the peer went away). So the graceful
 * end gets `graceMs`; past it the socket is destroyed. Nothing is lost by that: an
 * un-PUBACKed frame stays in the broker's session and is redelivered, and a device resends
 * any frame it got no application ack for.
 */
import type { MqttClient } from 'mqtt';

/** How long a close waits for the broker before destroying the socket. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 2000;

/**
 * What a bounded end came to: `graceful` (DISCONNECT sent, the broker closed the connection),
 * `forced` (the broker did not close it in time: the socket was destroyed), `down` (no session
 * was up, e.g. a reconnect waiting for its CONNACK: the socket was destroyed at once).
 */
export type EndOutcome = 'graceful' | 'forced' | 'down';

interface Closable {
  destroy(): void;
  closed?: boolean;
  once(event: 'close', fn: () => void): unknown;
}

/**
 * Ends `client` and resolves once its socket is closed, within about `graceMs`; never
 * rejects, and no reconnect follows (the client is `disconnecting`).
 * - Connected: DISCONNECT, then the broker gets `graceMs` to close the connection (and, before
 *   that, to PUBACK our QoS 1 publishes); past it the socket is destroyed.
 * - Not connected (between reconnects, or a connection waiting for its CONNACK): mqtt.js would
 *   queue the DISCONNECT for a session that never comes and leave the socket open until its
 *   CONNACK timer (10 s to 30 s later), so the socket is destroyed at once.
 * @example
 * if ((await endWithin(client, 2000)) === 'forced') log.warn('broker did not close in time');
 */
export async function endWithin(client: MqttClient, graceMs: number): Promise<EndOutcome> {
  // `end` never opens another socket, so this is the one to see closed.
  const stream = client.stream as unknown as Closable | undefined;
  const closed =
    stream === undefined || stream.closed === true
      ? Promise.resolve()
      : new Promise<void>((resolve) => stream.once('close', () => resolve()));
  const ok = () => true as const; // a store error on the way still leaves the client ended
  if (!client.connected) {
    await client.endAsync(true).then(ok, ok); // mqtt.js destroys the socket
    stream?.destroy();
    await closed;
    return 'down';
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), graceMs);
  });
  const ended = Promise.all([client.endAsync(false).then(ok, ok), closed]).then(ok);
  const inTime = await Promise.race([ended, late]);
  clearTimeout(timer);
  if (inTime) return 'graceful';
  // A second `end()` is a no-op while the first is pending (mqtt.js returns at once when
  // `disconnecting`), so the socket itself is destroyed; its `close` lets the client tidy up
  // (keepalive and CONNACK timers) and settles the first `end` when it got that far.
  stream?.destroy();
  await closed;
  return 'forced';
}
