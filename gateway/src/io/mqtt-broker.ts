/**
 * @module io/mqtt-broker
 * The embedded MQTT broker (aedes, MQTT 3.1.1). aedes writes the PUBACK before it
 * emits `published`, so the durable write happens inside `authorizePublish`
 * (ARCHITECTURE.md guarantee 1): the callback runs only after `Ingest.submit` has
 * committed the frame, or decided it is a duplicate or a rejection. A store failure
 * returns an error to aedes, which then closes the connection without a PUBACK: the
 * device keeps the frame and resends it after reconnecting.
 *
 * Rejected frames are acknowledged too (the decision is final and resending cannot
 * change it) and reported on `vt/v1/dev/{dev}/rejects` (PROTOCOL.md §2).
 *
 * This skeleton serves the plain demo listener, where the client id is the device's
 * claimed identity; frame signatures are checked all the same. Mutual TLS with KGC
 * client certificates comes with the device-identity issue.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { mayPublish, maySubscribe, rejectsTopic } from '../core/topics.js';
import { DEVICE_ID_PATTERN } from '../protocol/frame.js';
import type { Ingest, IngestResult } from './ingest.js';

export interface BrokerOptions {
  ingest: Ingest;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Called for every outcome, e.g. for logs and metrics (no payloads). */
  onOutcome?: (r: IngestResult, transportDev: string) => void;
}

export interface EmbeddedBroker {
  url: string;
  port: number;
  aedes: Aedes;
  /** Publishes a rejection report to the device (JSON, QoS 1). */
  sendReject(transportDev: string, r: Extract<IngestResult, { status: 'rejected' }>): void;
  /** Closes every client connection and the listener. */
  close(): Promise<void>;
  connectedClients(): number;
}

class TransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportError';
  }
}

export async function startEmbeddedBroker(opts: BrokerOptions): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  const aedes = await Aedes.createBroker({
    id: 'vitaltrail-gateway',
    // PROTOCOL.md §1: device ids are up to 64 characters, and the client id is the device id.
    maxClientsIdLength: 64,
    authenticate(client, _username, _password, done) {
      // [MQTT-3.1.3-8] identifier rejected: only well-formed device ids connect here.
      if (!DEVICE_ID_PATTERN.test(client.id)) {
        const err = Object.assign(new Error('client id is not a device id'), { returnCode: 2 as const });
        return done(err, false);
      }
      done(null, true);
    },
    authorizeSubscribe(client, sub, done) {
      if (!maySubscribe(client.id, sub.topic))
        return done(new TransportError('subscription not allowed'), null);
      done(null, sub);
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      if (!mayPublish(client.id, packet.topic)) return done(new TransportError('publish not allowed'));
      const payload = packet.payload;
      const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
      const dev = client.id;
      opts.ingest.submit(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), dev).then(
        (r) => {
          opts.onOutcome?.(r, dev);
          done(null);
        },
        (err: unknown) => done(err instanceof Error ? err : new Error('store failed')),
      );
    },
    // Frames go to the gateway only; never forward them to other subscribers.
    authorizeForward(_client, packet) {
      return packet.topic.endsWith('/frames') ? null : packet;
    },
  });

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  return {
    url: `mqtt://${host}:${port}`,
    port,
    aedes,
    sendReject(transportDev, r) {
      const body = JSON.stringify({ seq: r.seq ?? null, code: r.code, reason: r.reason });
      aedes.publish(
        {
          cmd: 'publish',
          topic: rejectsTopic(transportDev),
          payload: Buffer.from(body),
          qos: 1,
          retain: false,
          dup: false,
        },
        () => {},
      );
    },
    connectedClients: () => aedes.connectedClients,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
