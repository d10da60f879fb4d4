/**
 * @module io/transport/mqtt-broker
 * The embedded MQTT broker (aedes, MQTT 3.1.1). A PUBACK is written only after
 * `Ingest.submit` has committed the frame, or decided it is a duplicate or a rejection
 * (ARCHITECTURE.md guarantee 1). A store failure closes the connection without a PUBACK:
 * the device keeps the frame and resends it after reconnecting.
 *
 * A device's frame takes the broker's own path (io/transport/frame-path): a QoS 1 PUBLISH
 * on the connected client's own topic is taken from the edge and PUBACKed in the order
 * read, without aedes parsing it again; everything else goes through aedes, where
 * `authorizePublish` applies the same rules. Both submit a frame through one `submitFrame`.
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
 *
 * Limits (README "Security" → "Limits"): every connection is read through an `MqttEdge`
 * (packet sizes checked at the fixed header, MQTT 3.1.1 MUSTs, connect and packet
 * timeouts, a PUBLISH rate); a client whose frames are rejected `rejections.max` times in
 * `rejections.windowMs` is closed and may not reconnect with that id from that address
 * for `rejections.cooldownMs`. A forbidden SUBSCRIBE is answered SUBACK 0x80 [MQTT-3.9.3].
 * On the plain listener a client id already connected is refused (`client_id_in_use`)
 * instead of taking over the session: there the id is only a claim.
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  createServer as createTlsServer,
  type PeerCertificate,
  type TLSSocket,
  type Server as TlsServer,
} from 'node:tls';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import {
  Cooldowns,
  countsTowardsLimit,
  DEFAULT_MQTT_LIMITS,
  type MqttLimits,
  RejectionWindow,
} from '../../core/ingress-limits.js';
import {
  acksTopic,
  deviceOfFramesTopic,
  mayPublish,
  maySubscribe,
  rejectPayload,
  rejectsTopic,
} from '../../core/topics.js';
import { DEVICE_ID_PATTERN } from '../../protocol/frame.js';
import type {
  BrokerSecurityEvent,
  BrokerTlsOptions,
  ConnectRefusalCode,
  PeerAuthenticator,
} from '../identity/index.js';
import type { Ingest, IngestResult } from '../ingest/index.js';
import { type FramePathConnection, framePath } from './frame-path.js';
import { leanParser } from './lean-parser.js';
import { MqttEdge } from './mqtt-edge.js';

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
  /** The edge's limits; default `DEFAULT_MQTT_LIMITS`. */
  limits?: MqttLimits;
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
  /** Clients now cooling down after the rejection limit (the `ingress_throttled` alarm). */
  throttledClients(): number;
}

/**
 * Where a publish to a topic the client may not use is sent instead of its own: a `$` topic
 * no wildcard matches and no client may subscribe to (core/topics `maySubscribe`).
 */
const DROPPED_TOPIC = '$vitaltrail/dropped';

/** Idle time of a device's connection before the kernel's TCP keepalive probes begin. */
export const TCP_KEEPALIVE_IDLE_MS = 60_000;

/** What the broker keeps with each connection. */
interface Connection extends FramePathConnection {
  edge: MqttEdge;
  /** The TLS peer certificate, read at the handshake. */
  peer?: PeerCertificate;
  rejections: RejectionWindow;
}

class TransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportError';
  }
}

export async function startEmbeddedBroker(opts: BrokerOptions): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  const limits = opts.limits ?? DEFAULT_MQTT_LIMITS;
  const connections = new WeakMap<object, Connection>();
  const cooldowns = new Cooldowns();
  const connOf = (client: Client): Connection | undefined => connections.get(client.conn as object);
  const cooldownKey = (client: Client) => `${client.id}\u0000${remoteOf(client).remote ?? ''}`;
  const aedes = await Aedes.createBroker({
    id: 'vitaltrail-gateway',
    // PROTOCOL.md §1: device ids are up to 64 characters, and the client id is the device id.
    maxClientsIdLength: 64,
    connectTimeout: limits.connectTimeoutMs,
    authenticate(client, _username, _password, done) {
      const conn = connOf(client);
      const transport = conn?.transport ?? 'plain';
      const refuse = (reason: ConnectRefusalCode, returnCode: 2 | 3 | 5) => {
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
      if (cooldowns.has(cooldownKey(client), Date.now())) return refuse('client_cooling_down', 3);
      if (transport === 'tls') {
        // The handshake already required a certificate chaining to the KGC (rejectUnauthorized);
        // its certificate was read then and kept with the connection (see `trackTls`).
        const peer = conn?.peer;
        if (!peer?.raw) return refuse('no_client_certificate', 5);
        // [MQTT-3.1.3-8] identifier rejected: the client id must be the certificate's device.
        if (peer.subject?.CN !== client.id) return refuse('client_id_mismatch', 2);
        const verdict = opts.authenticatePeer?.(client.id, peer.raw) ?? { ok: true };
        if (!verdict.ok) return refuse(verdict.reason, 5);
      } else if (clientsOf(aedes)[client.id]) {
        // On the plain listener the client id is only a claim: it may not take over the
        // session of the device connected under it (that would be [MQTT-3.1.4-2]).
        return refuse('client_id_in_use', 2);
      }
      done(null, true);
    },
    authorizeSubscribe(client, sub, done) {
      // A forbidden filter is answered with the failure return code 0x80 [MQTT-3.9.3].
      if (!maySubscribe(client.id, sub.topic)) return done(null, null);
      done(null, sub);
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      const conn = connOf(client);
      const readAt = conn?.edge.takePublishReadAt();
      // Closed for rejections: what it sent before the close is not looked at (nor acked).
      if (conn?.throttled) return done(new TransportError('client throttled'));
      if (!mayPublish(client.id, packet.topic)) {
        // A frame for another device's topic is an identity claim: close, and say so.
        if (deviceOfFramesTopic(packet.topic) !== undefined) {
          reportClosed(client, conn, 'topic_not_allowed', "PUBLISH to another device's frames topic");
          return done(new TransportError('publish not allowed'));
        }
        // Any other topic: acknowledged and dropped [MQTT-3.3.5-2], as Mosquitto does, never
        // retained or forwarded; it counts towards the rejection limit. aedes forwards every
        // publish it is allowed, so the packet goes to a topic no one may subscribe to: never
        // to another device's acks or rejects, nor onto the internal live stream.
        packet.retain = false;
        packet.topic = DROPPED_TOPIC;
        if (conn) countRejection(client, conn, 'topic_not_allowed');
        return done(null);
      }
      const payload = packet.payload;
      const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
      submitFrame(
        client,
        conn,
        new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        readAt,
        () => done(null),
        done,
      );
    },
    // A client receives only the gateway's reports to it (its rejects and acks topics):
    // frames go to the gateway only, and dropped publishes go nowhere.
    authorizeForward(client, packet) {
      return client && (packet.topic === rejectsTopic(client.id) || packet.topic === acksTopic(client.id))
        ? packet
        : null;
    },
  });

  // A device's data key is made when it connects, not with its first frame (io/data-keys/ahead).
  aedes.on('client', (client) => opts.ingest.expect(client.id));
  skipDeliveryOfFrames(aedes);

  const reportClosed = (
    client: Client,
    conn: Connection | undefined,
    reason: 'topic_not_allowed',
    rule: string,
  ) =>
    opts.onSecurityEvent?.({
      event: 'connection_closed',
      reason,
      rule,
      transport: conn?.transport ?? 'plain',
      dev: client.id,
      ...remoteOf(client),
    });

  /** Counts a rejected frame; at the limit the client is closed and cools down. */
  const countRejection = (client: Client, conn: Connection, code: string) => {
    const now = Date.now();
    if (conn.throttled || !countsTowardsLimit(code) || !conn.rejections.add(code, now)) return;
    conn.throttled = true;
    cooldowns.add(cooldownKey(client), now + limits.rejections.cooldownMs);
    opts.onSecurityEvent?.({
      event: 'client_throttled',
      reason: 'rejection_limit',
      dev: client.id,
      transport: conn.transport,
      cause: conn.rejections.cause,
      count: conn.rejections.count,
      ...remoteOf(client),
    });
    // After this PUBACK is on its way: the device keeps nothing it was not acknowledged for.
    setImmediate(() => client.close());
  };

  /**
   * A device's frame to the ingest, on either path (aedes' `authorizePublish`, or the frame
   * path): once answered, its outcome is told, then `ack` sends its PUBACK, then a rejection
   * counts towards the limit (the close comes after that PUBACK is on its way). A store
   * failure goes to `fail`: no PUBACK, the connection closes.
   */
  const submitFrame = (
    client: Client,
    conn: Connection | undefined,
    bytes: Uint8Array,
    readAt: number | undefined,
    ack: () => void,
    fail: (err: Error) => void,
  ): void => {
    const dev = client.id;
    const via = conn?.transport ?? 'plain';
    opts.ingest.submit(bytes, dev, readAt === undefined ? { via } : { via, readAt }).then(
      (r) => {
        opts.onOutcome?.(r, dev);
        ack();
        if (r.status === 'rejected' && conn) countRejection(client, conn, r.code);
      },
      (err: unknown) => fail(err instanceof Error ? err : new Error('store failed')),
    );
  };

  const takeFrame = framePath<Connection>(submitFrame);

  const sockets = new Set<Socket>();
  const track = (socket: Socket, transport: 'tls' | 'plain', peer?: PeerCertificate) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A PUBACK is a few bytes written once the commit is durable: send it now, not after
    // Nagle's delay waiting for more.
    socket.setNoDelay(true);
    // A device whose network vanished sends no FIN; with MQTT keepalive 0 (allowed: no
    // PINGREQ is ever due) aedes would keep its connection for good. TCP keepalive lets the
    // kernel find the dead peer (probes after a minute idle; Linux's 9 unanswered probes).
    socket.setKeepAlive(true, TCP_KEEPALIVE_IDLE_MS);
    let conn: Connection | undefined;
    const edge = new MqttEdge(socket, {
      limits,
      connectTimeoutMs: limits.connectTimeoutMs,
      packetTimeoutMs: limits.packetTimeoutMs,
      rate: limits.rate,
      onRefused: (r) => {
        const client = (edge as unknown as { client?: Client }).client;
        opts.onSecurityEvent?.({
          event: 'connection_closed',
          reason: r.code,
          rule: r.rule,
          transport,
          ...(client?.id && DEVICE_ID_PATTERN.test(client.id) ? { dev: client.id } : {}),
          ...(socket.remoteAddress ? { remote: socket.remoteAddress } : {}),
        });
      },
      takePublish: (packet, readAt, answered) => (conn ? takeFrame(conn, packet, readAt, answered) : false),
    });
    conn = {
      edge,
      transport,
      ...(peer ? { peer } : {}),
      rejections: new RejectionWindow(limits.rejections),
    };
    connections.set(edge, conn);
    conn.client = aedes.handle(edge);
    leanParser(conn.client); // ~1.2 KB less per connection (io/transport/lean-parser)
  };
  // The peer certificate is read once, at the handshake, while the TLS handle certainly
  // exists, and kept with the connection: reading it later, when CONNECT is processed,
  // depends on the socket still holding its handle.
  const trackTls = (socket: TLSSocket) => {
    const peer = socket.getPeerCertificate();
    track(socket, 'tls', peer?.raw ? peer : undefined);
  };
  const servers: (Server | TlsServer)[] = [];
  let port = 0;
  if (opts.plain ?? true) {
    const server: Server = createServer((socket) => track(socket, 'plain'));
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
      const client = clientsOf(aedes)[id];
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
    throttledClients: () => cooldowns.active(Date.now()),
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

/**
 * A device's frame is taken, stored and answered in `authorizePublish`, and no client may
 * receive it (`authorizeForward`), nor a publish sent to `DROPPED_TOPIC`. aedes would still
 * run each of them through its delivery pipeline after the PUBACK, for no one: a retained
 * copy when the device set RETAIN, the lookup of offline subscriptions, the topic match, the
 * `publish` event (~5 % of the bytes the gateway allocated per frame, README "Where the bytes
 * go"). A client's publish to such a topic ends here instead; the gateway's own publishes
 * (rejects, acks) are delivered as before.
 */
function skipDeliveryOfFrames(aedes: Aedes): void {
  type Publish = (packet: PublishPacket, client: Client | null | Done, done?: Done) => void;
  type Done = (error?: Error) => void;
  const broker = aedes as unknown as { publish: Publish };
  const deliver = broker.publish.bind(aedes);
  broker.publish = (packet, client, done) => {
    if (client && typeof client !== 'function') {
      if (packet.topic === DROPPED_TOPIC || deviceOfFramesTopic(packet.topic) !== undefined) {
        done?.();
        return;
      }
    }
    deliver(packet, client, done);
  };
}

/** aedes's table of connected clients by id (not in its typings). */
function clientsOf(aedes: Aedes): Record<string, Client | undefined> {
  return (aedes as unknown as { clients: Record<string, Client | undefined> }).clients;
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

function remoteOf(client: Client): { remote?: string } {
  const conn = client.conn as unknown as Partial<MqttEdge>;
  const addr = conn.socket?.remoteAddress;
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
