/**
 * @module io/transport/mqtt-client-ingest
 * External-broker mode (PROTOCOL.md §2 "Behind an external broker", "Scale-out";
 * ARCHITECTURE.md guarantee 1 and "Scale-out"): the gateway is an MQTT 5 client (mqtt.js)
 * of an external broker (cluster). It holds persistent sessions (`clean: false`, a session
 * expiry interval) subscribed at QoS 1 to the shared subscription
 * `$share/vitaltrail/vt/v1/dev/+/frames`, so several gateways split the devices' frames.
 *
 * Acknowledgement: mqtt.js's `customHandleAcks` (MQTT 5 only) holds the PUBACK of each
 * frame until `Ingest.submit` has resolved, i.e. the frame is durable (accepted or
 * duplicate) or finally rejected. Only then does the broker drop it; a gateway that dies
 * before the PUBACK leaves the frame in its session, and the broker redelivers it when the
 * session resumes. After the PUBACK the gateway publishes the application ack
 * `{"seq": n}` on `vt/v1/dev/{dev}/acks` (QoS 1) for accepted and duplicate frames, and
 * `{"seq": n, "code", "reason"}` on `/rejects` for rejections; devices behind an external
 * broker drop a frame only on that application ack. If the store fails, no PUBACK is sent
 * and the lane's connection is dropped: on reconnect the broker redelivers (the session
 * persists), as aedes's closed connection makes a device resend in embedded mode.
 *
 * Lanes: mqtt.js handles incoming packets of one connection strictly one after another and
 * the next one only after the previous PUBACK, so one connection would get one frame per
 * commit (no group commit). The gateway therefore opens `lanes` connections (client ids
 * `<clientId>-<i>`), all members of the same share group: the broker spreads frames over
 * them, and up to `lanes` frames share a commit. Keep `clientId` and `lanes` stable across
 * restarts, so the sessions (and any frames queued for them) are resumed, not orphaned.
 *
 * Trust: behind an external broker the transport identity of a frame is the device id in
 * its topic. The broker must enforce it: mutual TLS with the device's KGC client
 * certificate (CN = device id = client id) and an ACL letting a client publish only to
 * `vt/v1/dev/<its client id>/frames` (Mosquitto: `pattern write vt/v1/dev/%c/frames`).
 * The frame's kid and body dev must still equal that topic id, and its signature must
 * verify with the device's KGC certificate, so a misconfigured broker lets a device at
 * most get its frames rejected, never forge another device's frames.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
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

export class ExternalBrokerError extends errorClass<'external_broker'>('ExternalBrokerError') {}

export interface ExternalBrokerOptions {
  /** Broker URL: `mqtts://broker:8883` in production (`mqtt://` only for tests). */
  url: string;
  /** Stable base client id of this gateway; lane i connects as `<clientId>-<i>`. */
  clientId: string;
  /** Parallel sessions in the share group (see the module notes). Default 8, 1-64. */
  lanes?: number;
  /** MQTT 5 session expiry in seconds: how long the broker keeps a lane's session. Default 86400. */
  sessionExpirySeconds?: number;
  /** How long `start` waits for every lane's first CONNACK. Default 10000 ms. */
  connectTimeoutMs?: number;
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
  /** Frames whose PUBACK is being held until they are durable. */
  inFlight(): number;
  /**
   * Stops taking frames and ends the sessions. Frames being committed finish first and are
   * PUBACKed; anything the broker had not delivered stays in the persistent sessions.
   */
  close(): Promise<void>;
}

/** Fails mqtt.js's ack handler on purpose: no PUBACK, the frame stays in the session. */
class HeldFrame extends Error {
  override readonly name = 'HeldFrame';
}

/** MQTT 5 PUBACK reason code 0: success (the broker may drop the message). */
const PUBACK_SUCCESS = 0;
const DEFAULT_LANES = 8;
const DEFAULT_SESSION_EXPIRY_S = 86_400;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

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
  const expiry = opts.sessionExpirySeconds ?? DEFAULT_SESSION_EXPIRY_S;
  if (!(Number.isInteger(expiry) && expiry >= 0 && expiry <= 0xffffffff))
    throw new RangeError('externalBroker.sessionExpirySeconds must be an integer from 0 to 2^32-1');
  if (typeof opts.clientId !== 'string' || opts.clientId === '')
    throw new RangeError('externalBroker.clientId must be a non-empty string');

  let closing = false;
  let inFlight = 0;
  const idle: Array<() => void> = [];
  const settled = () => {
    inFlight -= 1;
    if (inFlight === 0) for (const wake of idle.splice(0)) wake();
  };
  const clients: MqttClient[] = [];

  const publishControl = (topic: string, payload: Buffer): void => {
    // Any connected lane will do; mqtt.js queues the publish while it reconnects.
    const client = clients.find((c) => c.connected) ?? clients[0];
    client?.publish(topic, payload, { qos: 1, retain: false }, () => {});
  };
  const sendReject = (dev: string, r: Extract<IngestResult, { status: 'rejected' }>) =>
    publishControl(rejectsTopic(dev), rejectPayload(r));

  const makeLane = (lane: number): MqttClient => {
    const client = connect(opts.url, {
      reconnectPeriod: 1000,
      connectTimeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      ...opts.clientOptions,
      protocolVersion: 5,
      clientId: `${opts.clientId}-${lane}`,
      clean: false, // persistent session: undelivered and un-PUBACKed frames survive a restart
      properties: { ...opts.clientOptions?.properties, sessionExpiryInterval: expiry },
      // The PUBACK waits for the durable commit (ARCHITECTURE.md guarantee 1).
      customHandleAcks: (topic, message, _packet, done) => {
        const dev = deviceOfFramesTopic(topic);
        if (closing) {
          // No PUBACK: the session keeps the frame for the next start. (Failing the
          // handler, rather than never answering, keeps mqtt.js reading the PUBACKs of
          // our own acks, which `close` waits for.)
          done(new HeldFrame());
          return;
        }
        if (dev === undefined) {
          done(PUBACK_SUCCESS); // not a frames topic: nothing to store, nobody to answer
          return;
        }
        inFlight += 1;
        const bytes = new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
        opts.ingest.submit(bytes, dev, { via: 'external' }).then(
          (r) => {
            done(PUBACK_SUCCESS);
            settled();
            opts.onOutcome?.(r, dev);
            // PROTOCOL.md §2: the application ack, once the frame is durable in our store.
            if (r.status !== 'rejected') publishControl(acksTopic(dev), appAckPayload(r.seq));
          },
          (err: unknown) => {
            // Not durable: no PUBACK. Drop the connection so the broker redelivers on resume.
            settled();
            opts.onLinkError?.(lane, err);
            done(new HeldFrame());
            client.stream?.destroy();
          },
        );
      },
    });
    client.on('error', (err) => {
      if (!(err instanceof HeldFrame)) opts.onLinkError?.(lane, err);
    });
    client.on('connect', (connack) => {
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
    inFlight: () => inFlight,
    async close() {
      if (closing) return;
      closing = true;
      if (inFlight > 0) await new Promise<void>((resolve) => idle.push(resolve));
      // Give the last PUBACKs and acks a moment to be written, then DISCONNECT.
      await Promise.all(clients.map((c) => c.endAsync(false)));
    },
  };
}
