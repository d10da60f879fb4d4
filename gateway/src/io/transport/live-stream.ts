/**
 * @module io/transport/live-stream
 * The internal live stream on a broker (core/live-stream; issue 16): the accepting gateway
 * publishes each commit's readings once on `vt/v1/internal/live/<gateway id>` at QoS 1, and
 * every gateway's hub is fed from the subscription `vt/v1/internal/live/+`, so every
 * dashboard shows every reading whatever gateway accepted it. A gateway's own readings go
 * to its hub directly, through the same dedupe and per-device order as the others': the
 * link subscribes with MQTT 5's No Local option (§3.8.3.1), so the broker does not send a
 * gateway its own messages back (that echo cost the event loop a decode of every reading
 * and the broker a delivery of every message; a message with our own origin that still
 * comes is dropped unread).
 *
 * The link is one more MQTT 5 connection to the external broker (`<clientId>-live`, clean
 * start, the lanes' URL, TLS identity and keepalive; a close bounded as theirs,
 * io/transport/mqtt-end). A gateway on its embedded broker has no other
 * gateway to hear it and feeds its own ward directly (app/ingress-steps). The stream is live
 * data, not a record: the readings are durable in the accepting gateway's store before they
 * are published, so when the link is down a message is dropped and counted (never queued
 * without bound), and a gateway that reconnects picks up the stream from then on.
 *
 * Ordering: one publisher, one connection, QoS 1, so each gateway's messages arrive in the
 * order it sent them; a device's readings dealt to several gateways by the shared
 * subscription are put back in seq order (core/live-stream `DeviceOrder`, a reading waits
 * at most `holdMs` for the one before it), and a reading seen twice (redelivery after a
 * failover) is passed on once.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { DEFAULT_BROKER_KEEPALIVE_S } from '../../core/health.js';
import type { LiveHub, LiveReading, LiveSink } from '../../core/live.js';
import {
  DeviceOrder,
  decodeLiveBatch,
  encodeLiveBatch,
  LIVE_STREAM_SUBSCRIPTION,
  liveStreamTopic,
  SeenReadings,
} from '../../core/live-stream.js';
import { brokerLinkError, ExternalBrokerError } from './mqtt-client-ingest.js';
import { DEFAULT_CLOSE_TIMEOUT_MS, endWithin } from './mqtt-end.js';

/** A broker as the stream needs it. */
export interface LiveStreamLink {
  /** Sends one message at QoS 1; false when it was dropped (link down, backlog full). */
  publish(topic: string, payload: Buffer): boolean;
  /**
   * Subscribes once, without this link's own messages (No Local); every other message of
   * `filter` goes to `onMessage`.
   */
  subscribe(filter: string, onMessage: (payload: Buffer) => void): Promise<void>;
  close(): Promise<void>;
}

export interface MqttLinkOptions {
  url: string;
  /** The connection's client id (the gateway's base client id + `-live`). */
  clientId: string;
  /** The lanes' TLS identity and credentials. */
  clientOptions?: IClientOptions;
  /** How long `mqttLink` waits for the first CONNACK and SUBACK. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** MQTT keepalive in seconds, the lanes' (io/transport/mqtt-client-ingest). Default 15. */
  keepaliveSeconds?: number;
  /** How long `close` waits for the broker to end the connection before destroying it. Default 2000 ms. */
  closeTimeoutMs?: number;
  /** Messages sent and not yet PUBACKed by the broker, at most. Default 16. */
  inFlight?: number;
  /** Messages waiting for an in-flight slot, at most; beyond, dropped. Default 2000. */
  backlog?: number;
  onLinkError?: (err: unknown) => void;
}

/** One more MQTT 5 connection to the external broker for the stream. */
export async function mqttLink(o: MqttLinkOptions): Promise<LiveStreamLink> {
  const timeoutMs = o.connectTimeoutMs ?? 10_000;
  const client: MqttClient = connect(o.url, {
    reconnectPeriod: 1000,
    connectTimeout: timeoutMs, // a reconnect to a silent broker is given up as the lanes' is
    ...o.clientOptions,
    keepalive: o.keepaliveSeconds ?? DEFAULT_BROKER_KEEPALIVE_S,
    clientId: o.clientId,
    clean: true,
    protocolVersion: 5,
    // The stream's messages are small batches; a PUBACK at once, never held for Nagle.
    ...({ noDelay: true } as object),
  });
  client.on('error', (err) => o.onLinkError?.(brokerLinkError(err)));
  const limit = o.inFlight ?? 16;
  const maxBacklog = o.backlog ?? 2000;
  const backlog: { topic: string; payload: Buffer }[] = [];
  let sending = 0;
  const pump = (): void => {
    while (sending < limit && backlog.length > 0 && client.connected) {
      const m = backlog.shift() as { topic: string; payload: Buffer };
      sending += 1;
      client.publish(m.topic, m.payload, { qos: 1 }, () => {
        sending -= 1;
        pump();
      });
    }
  };
  client.on('connect', pump);
  client.on('close', () => {
    // What was in flight is lost with the connection (a clean session); live data only.
    sending = 0;
    backlog.length = 0;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new ExternalBrokerError(
            'broker_unreachable',
            'live stream: no CONNACK from the external broker in time',
          ),
        ),
      timeoutMs,
    );
    client.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
  }).catch(async (err) => {
    await client.endAsync(true);
    throw err;
  });
  return {
    publish(topic, payload) {
      if (!client.connected || backlog.length >= maxBacklog) return false;
      backlog.push({ topic, payload });
      pump();
      return true;
    },
    subscribe(filter, onMessage) {
      client.on('message', (_topic, payload) => onMessage(payload));
      // mqtt.js subscribes again after every reconnect (`resubscribe`, on by default).
      return new Promise((resolve, reject) =>
        client.subscribe(filter, { qos: 1, nl: true }, (err) => (err ? reject(err) : resolve())),
      );
    },
    async close() {
      if ((await endWithin(client, o.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS)) === 'forced')
        o.onLinkError?.(
          new ExternalBrokerError(
            'broker_unreachable',
            'the external broker did not end the connection in time',
          ),
        );
    },
  };
}

export interface LiveStreamStats {
  /** Stream messages this gateway sent, and the readings in them. */
  published: number;
  publishedReadings: number;
  /** Messages that could not be sent (link down or backlog full). */
  dropped: number;
  /** Readings passed to the hub: this gateway's own and those received from the others. */
  received: number;
  /** Readings received again (redelivery) and not passed on. */
  duplicates: number;
  /** Messages that did not decode, dropped whole. */
  malformed: number;
}

export interface LiveStreamOptions {
  link: LiveStreamLink;
  hub: LiveHub;
  /** This gateway's id: its topic and the `origin` of its readings. */
  gatewayId: string;
  /** Told once per malformed message, with a short reason (no payload values). */
  onMalformed?: (reason: string) => void;
  /** How long a reading waits for the one before it (core/live-stream `DeviceOrder`). */
  holdMs?: number;
}

/** The stream: a `LiveSink` for ingest, and the feed of this gateway's hub. */
export class LiveStream implements LiveSink {
  readonly #o: LiveStreamOptions;
  readonly #topic: string;
  readonly #seen = new SeenReadings();
  readonly #order: DeviceOrder;
  #timer: NodeJS.Timeout | null = null;
  readonly #stats: LiveStreamStats = {
    published: 0,
    publishedReadings: 0,
    dropped: 0,
    received: 0,
    duplicates: 0,
    malformed: 0,
  };

  private constructor(o: LiveStreamOptions) {
    this.#o = o;
    this.#topic = liveStreamTopic(o.gatewayId);
    this.#order = new DeviceOrder(o.holdMs);
  }

  /** Subscribes to the whole stream, then returns the stream ready to publish. */
  static async start(o: LiveStreamOptions): Promise<LiveStream> {
    const s = new LiveStream(o);
    await o.link.subscribe(LIVE_STREAM_SUBSCRIPTION, (payload) => s.#onMessage(payload));
    return s;
  }

  publishAll(readings: readonly LiveReading[]): void {
    if (readings.length === 0) return;
    for (const m of encodeLiveBatch(this.#o.gatewayId, readings)) {
      if (this.#o.link.publish(this.#topic, m)) this.#stats.published += 1;
      else this.#stats.dropped += 1;
    }
    this.#stats.publishedReadings += readings.length;
    // Our own readings, straight to the hub (the broker does not echo them: No Local).
    const origin = this.#o.gatewayId;
    this.#take(readings.map((r) => ({ ...r, origin })));
  }

  #onMessage(payload: Buffer): void {
    const batch = decodeLiveBatch(payload);
    if ('error' in batch) {
      this.#stats.malformed += 1;
      this.#o.onMalformed?.(batch.error);
      return;
    }
    // Our own, sent back by a broker that ignored No Local: passed on when we published it.
    if (batch.origin === this.#o.gatewayId) return;
    this.#take(batch.readings);
  }

  /** Readings of any gateway: each passed on once, a device's in seq order. */
  #take(readings: readonly LiveReading[]): void {
    const now = Date.now();
    for (const r of readings) {
      if (!this.#seen.first(r.dev, r.seq)) {
        this.#stats.duplicates += 1;
        continue;
      }
      this.#stats.received += 1;
      this.#pass(this.#order.offer(r, now));
    }
    this.#arm();
  }

  #pass(readings: readonly LiveReading[]): void {
    for (const r of readings) this.#o.hub.publish(r);
  }

  /** Wakes up when the first held reading's wait ends. */
  #arm(): void {
    if (this.#timer) return;
    const deadline = this.#order.nextDeadline();
    if (deadline === null) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = null;
        this.#pass(this.#order.due(Date.now()));
        this.#arm();
      },
      Math.max(1, deadline - Date.now()),
    );
  }

  stats(): Readonly<LiveStreamStats> {
    return { ...this.#stats };
  }

  close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pass(this.#order.due(Number.POSITIVE_INFINITY));
    return this.#o.link.close();
  }
}
