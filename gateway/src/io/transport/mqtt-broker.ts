/**
 * @module io/transport/mqtt-broker
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
 * Two listeners (PROTOCOL.md §2 "TLS port"): the mutual-TLS listener (TLS 1.2+, a client
 * certificate chaining to the KGC is required by the handshake; `authenticatePeer` then
 * checks CN = client id = device id and that the certificate is the device's current,
 * unrevoked one) and, only when configured, the plain listener (the demo), where the
 * client id is the device's claimed identity. Frame signatures are checked on both.
 * Handshake refusals and CONNACK refusals are reported to `onSecurityEvent`.
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  createServer as createTlsServer,
  type PeerCertificate,
  type TLSSocket,
  type Server as TlsServer,
} from 'node:tls';
import { Aedes, type Client } from 'aedes';
import { mayPublish, maySubscribe, rejectPayload, rejectsTopic } from '../../core/topics.js';
import { DEVICE_ID_PATTERN } from '../../protocol/frame.js';
import type {
  BrokerSecurityEvent,
  BrokerTlsOptions,
  ConnectRefusalCode,
  PeerAuthenticator,
} from '../identity/index.js';
import type { Ingest, IngestResult } from '../ingest/index.js';

export interface BrokerOptions {
  ingest: Ingest;
  host?: string;
  /** Plain listener port; 0 picks a free port. */
  port?: number;
  /** Serve the plain (unauthenticated transport) listener. Default `true`. */
  plain?: boolean;
  /** The mutual-TLS listener. */
  tls?: BrokerTlsOptions;
  /**
   * Decides whether a TLS client may connect as `clientId` given its certificate (DER,
   * already chain-checked by the handshake). Without it every handshake-valid client whose
   * certificate CN equals its client id is admitted.
   */
  authenticatePeer?: PeerAuthenticator;
  /** Handshake and CONNACK refusals (reason codes only; never certificate contents). */
  onSecurityEvent?: (e: BrokerSecurityEvent) => void;
  /** Called for every outcome, e.g. for logs and metrics (no payloads). */
  onOutcome?: (r: IngestResult, transportDev: string) => void;
}

export interface EmbeddedBroker {
  url: string;
  port: number;
  aedes: Aedes;
  /** The mutual-TLS listener's URL (`mqtts://host:port`), when configured. */
  tlsUrl: string | undefined;
  tlsPort: number | undefined;
  /** Closes the session of client `id`, if connected; true when one was closed. */
  closeClient(id: string): boolean;
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
  /** Each TLS connection's peer certificate, read at the handshake (see `trackTls`). */
  const peerCertificates = new WeakMap<TLSSocket, PeerCertificate>();
  const aedes = await Aedes.createBroker({
    id: 'vitaltrail-gateway',
    // PROTOCOL.md §1: device ids are up to 64 characters, and the client id is the device id.
    maxClientsIdLength: 64,
    authenticate(client, _username, _password, done) {
      const tlsConn = isTls(client);
      const transport = tlsConn ? 'tls' : 'plain';
      const refuse = (reason: ConnectRefusalCode, returnCode: 2 | 5) => {
        opts.onSecurityEvent?.({
          event: 'connect_refused',
          reason,
          transport,
          ...(DEVICE_ID_PATTERN.test(client.id) ? { dev: client.id } : {}),
          ...remoteOf(client),
        });
        done(Object.assign(new Error(reason), { returnCode }), false);
      };
      // [MQTT-3.1.3-8] identifier rejected: only well-formed device ids connect here.
      if (!DEVICE_ID_PATTERN.test(client.id)) return refuse('client_id_invalid', 2);
      if (tlsConn) {
        // The handshake already required a certificate chaining to the KGC (rejectUnauthorized);
        // its certificate was read then and kept with the connection (see `trackTls`).
        const peer = peerCertificates.get(tlsConn);
        if (!peer?.raw) return refuse('no_client_certificate', 5);
        // [MQTT-3.1.3-8] identifier rejected: the client id must be the certificate's device.
        if (peer.subject?.CN !== client.id) return refuse('client_id_mismatch', 2);
        const verdict = opts.authenticatePeer?.(client.id, peer.raw) ?? { ok: true };
        if (!verdict.ok) return refuse(verdict.reason, 5);
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
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    aedes.handle(socket);
  };
  // The peer certificate is read once, at the handshake, while the TLS handle certainly
  // exists, and kept with the connection: reading it later, when CONNECT is processed,
  // depends on the socket still holding its handle.
  const trackTls = (socket: TLSSocket) => {
    const peer = socket.getPeerCertificate();
    if (peer?.raw) peerCertificates.set(socket, peer);
    track(socket);
  };
  const servers: (Server | TlsServer)[] = [];
  let port = 0;
  if (opts.plain ?? true) {
    const server: Server = createServer(track);
    port = await listen(server, opts.port ?? 0, host);
    servers.push(server);
  }
  let tlsPort: number | undefined;
  let tlsHost = host;
  if (opts.tls) {
    tlsHost = opts.tls.host ?? host;
    const tlsServer = createTlsServer(
      {
        key: opts.tls.key,
        cert: opts.tls.cert,
        ca: [...opts.tls.ca],
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
      },
      trackTls,
    );
    tlsServer.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      opts.onSecurityEvent?.({
        event: 'tls_refused',
        reason: tlsRefusalReason(err, socket.authorizationError),
        ...(socket.remoteAddress ? { remote: socket.remoteAddress } : {}),
      });
    });
    tlsPort = await listen(tlsServer, opts.tls.port ?? 0, tlsHost);
    servers.push(tlsServer);
  }

  return {
    url: `mqtt://${host}:${port}`,
    port,
    tlsUrl: tlsPort === undefined ? undefined : `mqtts://${tlsHost}:${tlsPort}`,
    tlsPort,
    aedes,
    closeClient(id) {
      const client = (aedes as unknown as { clients: Record<string, Client | undefined> }).clients[id];
      if (!client) return false;
      client.close();
      return true;
    },
    sendReject(transportDev, r) {
      aedes.publish(
        {
          cmd: 'publish',
          topic: rejectsTopic(transportDev),
          payload: rejectPayload(r),
          qos: 1,
          retain: false,
          dup: false,
        },
        () => {},
      );
    },
    connectedClients: () => aedes.connectedClients,
    async close() {
      const closed = Promise.all(
        servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
      for (const s of sockets) s.destroy();
      await closed;
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}

function listen(server: Server | TlsServer, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : 0);
    });
  });
}

function isTls(client: Client): TLSSocket | undefined {
  const conn = client.conn as unknown as Partial<TLSSocket>;
  return typeof conn.getPeerCertificate === 'function' ? (conn as TLSSocket) : undefined;
}

function remoteOf(client: Client): { remote?: string } {
  const addr = (client.conn as unknown as Partial<Socket>).remoteAddress;
  return typeof addr === 'string' ? { remote: addr } : {};
}

/** OpenSSL X509 verify results (node's `authorizationError`) mapped to our reasons. */
const VERIFY_REASONS: Record<string, ConnectRefusalCode> = {
  CERT_HAS_EXPIRED: 'expired_certificate',
  CERT_NOT_YET_VALID: 'expired_certificate',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self_signed_certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self_signed_certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted_certificate',
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted_certificate',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted_certificate',
  CERT_SIGNATURE_FAILURE: 'untrusted_certificate',
  INVALID_CA: 'untrusted_certificate',
  INVALID_PURPOSE: 'wrong_certificate_purpose',
  CERT_REVOKED: 'revoked_device',
};

/**
 * A short, stable reason for a failed handshake, from OpenSSL's verify result (the
 * socket's `authorizationError`) or the handshake error (the error text itself is not
 * logged: it may quote peer-supplied names).
 */
export function tlsRefusalReason(
  err: Error & { code?: string },
  verifyError?: Error | string | null,
): ConnectRefusalCode {
  const verify =
    typeof verifyError === 'string' ? verifyError : (verifyError as { code?: string } | null)?.code;
  if (verify && VERIFY_REASONS[verify]) return VERIFY_REASONS[verify];
  if (verify) return 'untrusted_certificate';
  const text = `${err.code ?? ''} ${err.message}`.toLowerCase();
  const table: [RegExp, ConnectRefusalCode][] = [
    [/peer did not return a certificate|certificate required/, 'no_client_certificate'],
    [/expired/, 'expired_certificate'],
    [/not yet valid/, 'expired_certificate'],
    [/self[- ]signed/, 'self_signed_certificate'],
    [
      /signature failure|bad signature|unable to get local issuer|unable to verify|unknown ca|certificate verify failed/,
      'untrusted_certificate',
    ],
    [/revoked/, 'revoked_device'],
    [/version|protocol/, 'protocol_version'],
  ];
  for (const [re, reason] of table) if (re.test(text)) return reason;
  return 'handshake_failed';
}
