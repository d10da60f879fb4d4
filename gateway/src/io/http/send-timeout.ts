/**
 * @module io/http/send-timeout
 * A response the client stops taking is ended, as nginx's `send_timeout` (60 s by default)
 * ends one: once a response starts to be sent, its connection is closed when `ms` pass with
 * no byte of it taken by the client (no write completing, nothing read). A laptop that
 * sleeps through a download, or a client that reads the headers and never the body, would
 * otherwise hold the whole unsent body in the gateway's memory for as long as it keeps the
 * connection open (a 6-hour FHIR export is tens of MB); now it is freed after `ms`.
 *
 * Only the sending is timed: a handler that takes long to build its answer is not cut off,
 * and neither is an idle keep-alive connection (Node's `keepAliveTimeout` takes over once a
 * response is sent whole) nor the live socket (an upgrade has no response; the WebSocket
 * library clears the socket's timeout and pings it itself, io/http/live-socket).
 */
import type { FastifyInstance } from 'fastify';

/** nginx's default `send_timeout`. */
export const DEFAULT_SEND_TIMEOUT_MS = 60_000;

/**
 * A client the gateway dropped for not taking what it is sent: a response it took none of
 * for the send timeout (`send_timeout`), or a live socket that did not answer a ping
 * (`no_pong`) or fell more than its bound behind (`too_slow`, io/http/live-socket).
 */
export interface DroppedClient {
  reason: 'send_timeout' | 'no_pong' | 'too_slow';
  /** The route's pattern (e.g. `/api/care/patients/:patient/fhir`): no ids, no query. */
  route: string;
  method: string;
  /** Bytes still held by the gateway for it when it was dropped. */
  unsent: number;
}

/**
 * Arms the timeout on every response as it starts to be sent.
 * @example registerSendTimeout(app, { ms: 60_000, onStalled: (s) => log.warn('…', s) });
 */
export function registerSendTimeout(
  app: FastifyInstance,
  o: { ms: number; onStalled?: (s: DroppedClient) => void },
): void {
  if (!(o.ms > 0)) return;
  app.addHook('onSend', async (request, reply, payload) => {
    const socket = request.raw.socket;
    const res = reply.raw;
    // `app.inject` has a stand-in socket with no timeout: nothing is sent over a network.
    if (!socket || socket.destroyed || typeof socket.setTimeout !== 'function') return payload;
    // Node's HTTP server emits `timeout` on the response in flight, and destroys the socket
    // itself only when nobody listens: this listener ends it, and tells it once.
    res.once('timeout', () => {
      o.onStalled?.({
        reason: 'send_timeout',
        route: request.routeOptions.url ?? '',
        method: request.method,
        unsent: socket.writableLength,
      });
      socket.destroy();
    });
    socket.setTimeout(o.ms);
    return payload;
  });
}
