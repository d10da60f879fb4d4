/**
 * @module io/transport/mqtt-client-ingest
 * External-broker mode (PROTOCOL.md §2 "Behind an external broker", "Scale-out";
 * ARCHITECTURE.md guarantee 1 and "Scale-out"): the gateway is an MQTT 5 client (mqtt.js)
 * of an external broker (cluster). It holds persistent sessions (`clean: false`, a session
 * expiry interval) subscribed at QoS 1 to the shared subscription
 * `$share/vitaltrail/vt/v1/dev/+/frames`, so several gateways split the devices' frames.
 *
 * Acknowledgement: the PUBACK of each frame is held until `Ingest.submit` has resolved, i.e.
 * the frame is durable (accepted or duplicate) or finally rejected. Only then does the broker
 * drop it; a gateway that dies before the PUBACK leaves the frame in its session, and the
 * broker redelivers it when the session resumes. After the commit the gateway sends the
 * application ack `{"seq": n}` on `vt/v1/dev/{dev}/acks` for accepted and duplicate frames,
 * and `{"seq": n, "code", "reason"}` on `/rejects` (QoS 1) for rejections; devices behind an
 * external broker drop a frame only on that application ack. The application ack goes at
 * QoS 0 by default, written with the PUBACKs (one write per commit): it is idempotent and
 * the device keeps and resends every frame it was not acked for, so an ack lost with a
 * broken connection costs one resend, answered as a duplicate; at QoS 1 (`appAckQos: 1`,
 * through mqtt.js) it would cost a PUBACK from the broker and one from the device per frame. If the store fails, no PUBACK
 * is sent and the lane's connection is dropped: on reconnect the broker redelivers (the
 * session persists), as aedes's closed connection makes a device resend in embedded mode.
 *
 * Many frames per session in one commit (the design of manual acknowledgement in the Paho
 * Java and HiveMQ clients): mqtt.js answers an incoming QoS 1 PUBLISH only after its handler
 * returns and reads the next packet only then, so a PUBACK held in the handler would hold
 * the whole connection to one frame per fsync. Instead `handleMessage` hands the frame to
 * the pipeline and returns at once with a "deferred" outcome (mqtt.js then sends no PUBACK
 * and reads on), and the gateway writes the PUBACKs itself when the frames are durable, in
 * arrival order, one write per commit (io/transport/mqtt-pubacks). How many frames a lane
 * may hold un-PUBACKed is the MQTT 5 Receive Maximum it sends in CONNECT
 * (`receiveMaximum`, default 256; it overrides Mosquitto's `max_inflight_messages` for the
 * session), so `lanes × receiveMaximum` frames can share one group commit; the broker, not
 * the gateway, keeps the rest queued in the sessions. A broker that sends more than that
 * (Mosquitto 2.0.11 does, after a session resume and while PUBACKs stream back) is not read
 * further until the lane is below its Receive Maximum again: TCP flow control keeps the
 * surplus in the broker, so a backlog of a long outage never floods the gateway's memory. The sockets have TCP_NODELAY: a PUBACK or an
 * application ack is never held back for Nagle's algorithm.
 *
 * Lanes: `lanes` sessions (client ids `<clientId>-<i>`), all members of the same share
 * group, so the broker spreads frames over them and one slow connection does not carry the
 * whole load. Keep `clientId` and `lanes` stable across restarts, so the sessions (and any
 * frames queued for them) are resumed, not orphaned.
 *
 * A broker that stops answering: each lane sends MQTT keepalive PINGREQs every
 * `keepaliveSeconds` (default 15, core/health; mqtt.js's 60 s let a frozen broker go unnoticed
 * for up to 90 s), and a lane that heard nothing from the broker (no PINGRESP, frame or
 * acknowledgement) for 1.5 × that is dropped (logged as `broker_unreachable`) and reconnects;
 * mqtt.js alone would also drop a lane whose PINGRESP waits behind unread frames. A lane counts as live
 * (`liveLanes`, which `/readyz` reads) while it is connected and heard from the broker within
 * 1.5 × its keepalive (the MQTT 5 §3.1.2.10 measure of a silent peer), and only once the
 * broker answered on that connection beyond the handshake: each lane sends a PINGREQ right
 * after its CONNACK, so a peer that answers CONNECT and SUBSCRIBE and then nothing (the
 * black-hole probe's `mqtt-stall`, which accepted every reconnect) never counts. A close waits
 * at most `closeTimeoutMs` for the broker to end each connection, then destroys the socket
 * (io/transport/mqtt-end): a frozen broker never ends it, and the stop waited for it forever.
 *
 * Trust: behind an external broker the transport identity of a frame is the device id in
 * its topic. The broker must enforce it: mutual TLS with the device's KGC client
 * certificate (CN = device id = client id) and an ACL letting a client publish only to
 * `vt/v1/dev/<its client id>/frames` (Mosquitto: `pattern write vt/v1/dev/%c/frames`).
 * The frame's kid and body dev must still equal that topic id, and its signature must
 * verify with the device's KGC certificate, so a misconfigured broker lets a device at
 * most get its frames rejected, never forge another device's frames.
 */
import { performance } from 'node:perf_hooks';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { brokerAnswering, DEFAULT_BROKER_KEEPALIVE_S } from '../../core/health.js';
import {
  acksTopic,
  appAckPayload,
  deviceOfFramesTopic,
  rejectPayload,
  rejectsTopic,
  SHARED_FRAMES_SUBSCRIPTION,
} from '../../core/topics.js';
import { errorClass } from '../../protocol/errors.js';
import type { Ingest, IngestResult } from '../ingest/index.js';
import { DEFAULT_CLOSE_TIMEOUT_MS, endWithin } from './mqtt-end.js';
import { OrderedPubacks, type PubackSink, qos0Publish } from './mqtt-pubacks.js';

export class ExternalBrokerError extends errorClass<'external_broker'>('ExternalBrokerError') {}

export interface ExternalBrokerOptions {
  /** Broker URL: `mqtts://broker:8883` in production (`mqtt://` only for tests). */
  url: string;
  /** Stable base client id of this gateway; lane i connects as `<clientId>-<i>`. */
  clientId: string;
  /** Parallel sessions in the share group (see the module notes). Default 8, 1-64. */
  lanes?: number;
  /**
   * Frames one lane may hold un-PUBACKed while they are verified and committed: the MQTT 5
   * Receive Maximum sent in CONNECT (see the module notes). Default 256, 1-65535.
   */
  receiveMaximum?: number;
  /**
   * QoS of the application acks (see the module notes). Default 0: written by the gateway
   * with the PUBACKs; 1: published through mqtt.js and PUBACKed by the broker.
   */
  appAckQos?: 0 | 1;
  /** MQTT 5 session expiry in seconds: how long the broker keeps a lane's session. Default 86400. */
  sessionExpirySeconds?: number;
  /** How long `start` waits for every lane's first CONNACK. Default 10000 ms. */
  connectTimeoutMs?: number;
  /**
   * MQTT keepalive of each connection in seconds: a PINGREQ after that long, the lane dropped
   * without an answer within 1.5 × (see the module notes). Default 15, 1-65535.
   */
  keepaliveSeconds?: number;
  /** How long `close` waits for the broker to end each connection before destroying it. Default 2000 ms. */
  closeTimeoutMs?: number;
  /** Extra mqtt.js options: TLS `ca`/`cert`/`key`, `username`/`password`, `reconnectPeriod`. */
  clientOptions?: IClientOptions;
}

export interface ExternalIngestOptions extends ExternalBrokerOptions {
  ingest: Ingest;
  /** Called for every outcome, e.g. for logs and metrics (no payloads). */
  onOutcome?: (r: IngestResult, transportDev: string) => void;
  /** Called when a lane loses or fails its connection (codes only). */
  onLinkError?: (lane: number, err: unknown) => void;
}

export interface ExternalMqttIngest {
  url: string;
  /** Publishes a rejection report to the device (JSON, QoS 1). */
  sendReject(transportDev: string, r: Extract<IngestResult, { status: 'rejected' }>): void;
  /** Lanes currently connected. */
  connectedLanes(): number;
  /**
   * Lanes that can take frames now: connected, answered by the broker on this connection
   * beyond the handshake (a PINGRESP, a frame, a PUBACK: each lane sends a PINGREQ right after
   * its CONNACK), and heard from it (any packet) within 1.5 × their keepalive.
   */
  liveLanes(): number;
  /** Frames whose PUBACK is being held until they are durable. */
  inFlight(): number;
  /** The most frames one lane held un-PUBACKed at once since start (sizing and tests). */
  peakLaneInFlight(): number;
  /**
   * Stops taking frames and ends the sessions. Frames being committed finish first and are
   * PUBACKed; anything the broker had not delivered stays in the persistent sessions.
   */
  close(): Promise<void>;
}

/**
 * Passed to mqtt.js's `handleMessage` callback: mqtt.js then sends no PUBACK of its own and
 * reads the next packet (mqtt 5.16.0, handlers/publish.js); the PUBACK is ours to write.
 * One instance, never thrown.
 */
class DeferredPuback extends Error {
  override readonly name = 'DeferredPuback';
}
const DEFERRED = new DeferredPuback('PUBACK deferred until the frame is durable');

const DEFAULT_LANES = 8;
const DEFAULT_RECEIVE_MAXIMUM = 256;
const DEFAULT_SESSION_EXPIRY_S = 86_400;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** mqtt.js 5.16's errors (plain `Error`s, told apart by message) for a broker that does not answer. */
const SILENT_BROKER = new Map([
  ['Keepalive timeout', 'no answer from the external broker within 1.5 × the keepalive'],
  ['connack timeout', 'no CONNACK from the external broker in time'],
]);

/**
 * An mqtt.js error of a connection to the external broker, for the log: mqtt.js's keepalive
 * and CONNACK timeouts as `broker_unreachable` (else they are logged as `unknown`).
 */
export function brokerLinkError(err: unknown): unknown {
  const reason =
    err instanceof Error && !(err instanceof ExternalBrokerError)
      ? SILENT_BROKER.get(err.message)
      : undefined;
  return reason === undefined ? err : new ExternalBrokerError('broker_unreachable', reason, { cause: err });
}

function waitConnack(client: MqttClient, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('connect', onConnect);
      reject(new ExternalBrokerError('broker_unreachable', 'no CONNACK from the external broker in time'));
    }, timeoutMs);
    const onConnect = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('connect', onConnect);
  });
}

const noop = () => {};

/** TCP_NODELAY on a lane's socket (net.Socket or TLSSocket; set before or after it connects). */
function noDelay(stream: unknown): void {
  (stream as { setNoDelay?: (on: boolean) => unknown } | undefined)?.setNoDelay?.(true);
}

/**
 * Connects the gateway's lanes to the external broker and starts ingesting.
 * @throws {RangeError} on invalid options.
 * @throws {ExternalBrokerError} `broker_unreachable` when a lane gets no CONNACK in time,
 *   `subscription_refused` when the broker refuses the shared subscription.
 * @example
 * const ext = await startExternalIngest({ ingest, url: 'mqtts://broker:8883', clientId: 'gw-1',
 *   clientOptions: { ca, cert, key } });
 * // … later
 * await ext.close();
 */
export async function startExternalIngest(opts: ExternalIngestOptions): Promise<ExternalMqttIngest> {
  const lanes = opts.lanes ?? DEFAULT_LANES;
  if (!(Number.isInteger(lanes) && lanes >= 1 && lanes <= 64))
    throw new RangeError('externalBroker.lanes must be an integer from 1 to 64');
  const appAckQos = opts.appAckQos ?? 0;
  if (appAckQos !== 0 && appAckQos !== 1) throw new RangeError('externalBroker.appAckQos must be 0 or 1');
  const receiveMaximum = opts.receiveMaximum ?? DEFAULT_RECEIVE_MAXIMUM;
  if (!(Number.isInteger(receiveMaximum) && receiveMaximum >= 1 && receiveMaximum <= 0xffff))
    throw new RangeError('externalBroker.receiveMaximum must be an integer from 1 to 65535');
  const expiry = opts.sessionExpirySeconds ?? DEFAULT_SESSION_EXPIRY_S;
  if (!(Number.isInteger(expiry) && expiry >= 0 && expiry <= 0xffffffff))
    throw new RangeError('externalBroker.sessionExpirySeconds must be an integer from 0 to 2^32-1');
  if (typeof opts.clientId !== 'string' || opts.clientId === '')
    throw new RangeError('externalBroker.clientId must be a non-empty string');
  const keepalive = opts.keepaliveSeconds ?? DEFAULT_BROKER_KEEPALIVE_S;
  if (!(Number.isInteger(keepalive) && keepalive >= 1 && keepalive <= 0xffff))
    throw new RangeError('externalBroker.keepaliveSeconds must be an integer from 1 to 65535');
  const closeTimeoutMs = opts.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;

  let closing = false;
  let inFlight = 0;
  let peakLane = 0;
  const idle: Array<() => void> = [];
  const settled = () => {
    inFlight -= 1;
    if (inFlight === 0) for (const wake of idle.splice(0)) wake();
  };
  const clients: MqttClient[] = [];
  const pubacks: (OrderedPubacks | undefined)[] = [];
  /** When each lane last read a packet from the broker (performance.now()). */
  const heardAt: number[] = [];
  /**
   * Whether the broker answered on the lane's current connection beyond the handshake (see
   * `liveLanes`): a peer that sends CONNACK and SUBACK and then nothing is not a broker.
   */
  const answered: boolean[] = [];

  const publishControl = (topic: string, payload: Buffer, lane?: number): void => {
    // The frame's own lane when it is up, else any connected lane; mqtt.js queues the
    // publish while it reconnects.
    const own = lane === undefined ? undefined : clients[lane];
    const client = own?.connected ? own : (clients.find((c) => c.connected) ?? own ?? clients[0]);
    client?.publish(topic, payload, { qos: 1, retain: false }, () => {});
  };
  const sendReject = (dev: string, r: Extract<IngestResult, { status: 'rejected' }>) =>
    publishControl(rejectsTopic(dev), rejectPayload(r));
  /** PROTOCOL.md §2: the application ack, once the frame is durable in our store. */
  const sendAppAck = (dev: string, seq: number, lane: number): void => {
    if (appAckQos === 1) {
      publishControl(acksTopic(dev), appAckPayload(seq), lane);
      return;
    }
    // QoS 0, with the PUBACKs of a connection that is up (the frame's lane first). With
    // none up it is dropped: the device resends the frame and gets the ack of the duplicate.
    const own = pubacks[lane];
    const via = own?.open ? own : pubacks.find((q) => q?.open);
    via?.send(qos0Publish(acksTopic(dev), appAckPayload(seq)));
  };

  const makeLane = (lane: number): MqttClient => {
    const client = connect(opts.url, {
      reconnectPeriod: 1000,
      connectTimeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      log: noop, // mqtt.js's `debug` calls cost several % of a frame's time even when off
      ...opts.clientOptions,
      keepalive,
      protocolVersion: 5,
      clientId: `${opts.clientId}-${lane}`,
      clean: false, // persistent session: undelivered and un-PUBACKed frames survive a restart
      properties: {
        ...opts.clientOptions?.properties,
        sessionExpiryInterval: expiry,
        receiveMaximum, // MQTT 5 §3.1.2.11.3: un-PUBACKed PUBLISHes the broker may send at once
      },
    });
    noDelay(client.stream);
    heardAt[lane] = Number.NEGATIVE_INFINITY;
    answered[lane] = false;
    client.on('packetreceive', (packet) => {
      heardAt[lane] = performance.now();
      if (packet.cmd !== 'connack' && packet.cmd !== 'suback') answered[lane] = true;
    });
    client.on('close', () => {
      answered[lane] = false;
    });
    // mqtt.js 5.16 drops the connection when no PINGRESP or acknowledgement came within 1.5 ×
    // the keepalive, even while frames stream in (a PUBLISH does not count, and the PINGRESP
    // waits behind the frames a full lane has not read yet). A lane heard from within that
    // time is alive: ping again instead (as Paho counts any packet received).
    const dropSilent = client.onKeepaliveTimeout.bind(client);
    client.onKeepaliveTimeout = () => {
      if (brokerAnswering(performance.now() - (heardAt[lane] ?? 0), client.keepalive))
        client.reschedulePing(true);
      else dropSilent();
    };
    /** The PUBACKs of the lane's current connection. */
    const pubacksOf = (stream: unknown): OrderedPubacks => {
      const q = pubacks[lane];
      if (q !== undefined && q.sink === stream) return q;
      q?.discard(); // an earlier connection: its un-PUBACKed frames are resent by the broker
      const fresh = new OrderedPubacks(stream as PubackSink);
      pubacks[lane] = fresh;
      return fresh;
    };
    // The PUBACK waits for the durable commit (ARCHITECTURE.md guarantee 1).
    client.handleMessage = (packet: IPublishPacket, callback) => {
      if (packet.cmd !== 'publish' || packet.qos !== 1 || packet.messageId === undefined) {
        callback(); // nothing of ours (we subscribe at QoS 1): mqtt.js answers as usual
        return;
      }
      const readAt = performance.now();
      // No PUBACK while closing: the session keeps the frame for the next start.
      if (closing) return callback(DEFERRED);
      const queue = pubacksOf(client.stream);
      const slot = queue.take(packet.messageId);
      peakLane = Math.max(peakLane, queue.pending);
      const dev = deviceOfFramesTopic(packet.topic);
      // mqtt.js reads the next packet only after `callback`: held while the lane is full.
      const readOn = () => queue.whenBelow(receiveMaximum, () => callback(DEFERRED));
      if (dev === undefined) {
        queue.release(slot); // not a frames topic: nothing to store, nobody to answer
        return readOn();
      }
      inFlight += 1;
      const message = packet.payload as Buffer;
      const bytes = new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
      opts.ingest.submit(bytes, dev, { via: 'external', readAt }).then(
        (r) => {
          queue.release(slot);
          settled();
          opts.onOutcome?.(r, dev);
          if (r.status !== 'rejected') sendAppAck(dev, r.seq, lane);
        },
        (err: unknown) => {
          // Not durable: no PUBACK (nor any after it on this connection). Drop the
          // connection so the broker redelivers on resume.
          queue.discard();
          settled();
          opts.onLinkError?.(lane, err);
          (queue.sink as { destroy?: () => void }).destroy?.();
        },
      );
      readOn();
    };
    client.on('error', (err) => opts.onLinkError?.(lane, brokerLinkError(err)));
    client.on('connect', (connack) => {
      noDelay(client.stream);
      // An answer at once, not a keepalive later: the lane counts as live from its PINGRESP.
      client.sendPing();
      if (connack.sessionPresent) return;
      client.subscribe(SHARED_FRAMES_SUBSCRIPTION, { qos: 1 }, (err, granted) => {
        if (err || granted?.some((g) => g.qos !== 1)) {
          opts.onLinkError?.(
            lane,
            new ExternalBrokerError('subscription_refused', 'the broker refused the shared subscription'),
          );
        }
      });
    });
    return client;
  };

  for (let i = 0; i < lanes; i++) clients.push(makeLane(i));
  const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  try {
    await Promise.all(clients.map((c) => (c.connected ? Promise.resolve() : waitConnack(c, timeoutMs))));
  } catch (err) {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    throw err;
  }

  return {
    url: opts.url,
    sendReject,
    connectedLanes: () => clients.filter((c) => c.connected).length,
    liveLanes: () => {
      const now = performance.now();
      return clients.filter(
        (c, i) => c.connected && answered[i] && brokerAnswering(now - (heardAt[i] ?? 0), c.keepalive),
      ).length;
    },
    inFlight: () => inFlight,
    peakLaneInFlight: () => peakLane,
    async close() {
      if (closing) return;
      closing = true;
      if (inFlight > 0) await new Promise<void>((resolve) => idle.push(resolve));
      for (const q of pubacks) q?.flush(); // the last PUBACKs, before the DISCONNECT
      // mqtt.js waits for the broker's PUBACKs of our application acks, then DISCONNECTs; a
      // broker that does not end the connection in time has its socket destroyed.
      const ends = await Promise.all(clients.map((c) => endWithin(c, closeTimeoutMs)));
      ends.forEach((how, lane) => {
        if (how === 'forced')
          opts.onLinkError?.(
            lane,
            new ExternalBrokerError(
              'broker_unreachable',
              'the external broker did not end the connection in time',
            ),
          );
      });
    },
  };
}
