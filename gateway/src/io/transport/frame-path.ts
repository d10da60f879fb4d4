/**
 * @module io/transport/frame-path
 * The embedded broker's own path for a device's frame, the one packet that comes thousands
 * of times a second (issue 14). Once the client is connected, a QoS 1 PUBLISH on its own
 * frames topic is taken from the edge (io/transport/mqtt-edge `takePublish`) as the bytes
 * the framer has already split and checked, submitted to the ingest, and PUBACKed by the
 * gateway once answered: in the order the PUBLISHes were read [MQTT-4.6.0-2], the PUBACKs
 * released in one turn of the event loop (a commit's) in one write (io/transport/mqtt-pubacks).
 * aedes never parses it again, runs it through its handlers or builds its PUBACK: its parse
 * and publish path was ~28 % of the bytes the gateway allocated a frame (README "Where the
 * bytes go").
 *
 * Everything else stays with aedes (io/transport/mqtt-broker): the CONNECT, subscriptions,
 * pings, a publish to any other topic, QoS 0 or 2, a packet behind one aedes has not read
 * yet, and every PUBLISH of a connection closed for its rejections; `authorizePublish`
 * there applies the same rules, and a frame's PUBACK waits there for the same commit.
 *
 * As aedes does for every packet it reads, a frame refreshes the client's keep-alive timer
 * (a device that only publishes sends no PINGREQ). And as aedes reads no further while a
 * PUBACK of its own waits for the socket's 'drain', a frame counts as answered to the edge
 * (which then reads on, up to its bound) only while the socket takes writes: a device that
 * does not read its PUBACKs is not read either (TCP flow control), and its PUBACKs never pile
 * up in the gateway's memory. A store failure closes the connection
 * without a PUBACK, as an error from aedes' `authorizePublish` does: the device keeps the
 * frame and resends it after reconnecting.
 */
import type { Socket } from 'node:net';
import type { Client } from 'aedes';
import { framesTopic } from '../../core/topics.js';
import { qos1PublishTo } from '../../protocol/mqtt-framing.js';
import { OrderedPubacks } from './mqtt-pubacks.js';

/** What the frame path reads and keeps of one connection of the broker. */
export interface FramePathConnection {
  readonly transport: 'tls' | 'plain';
  readonly edge: { readonly socket: Socket };
  /** The aedes client reading this connection. */
  client?: Client;
  /** Set at the rejection limit: its frames go to aedes, which closes the connection. */
  throttled?: boolean;
  /** Its own frames topic (UTF-8) and the PUBACKs of the frames taken, once it has sent one. */
  own?: Own;
}

interface Own {
  topic: Buffer;
  pubacks: OrderedPubacks;
  /** Frames answered while the socket's writes were backed up: told to the edge on 'drain'. */
  afterDrain: (() => void)[];
}

/**
 * How the broker submits a device's frame, on this path and on aedes' alike
 * (io/transport/mqtt-broker `submitFrame`): `ack` once it is answered (durable, a duplicate
 * or rejected), `fail` when the store failed.
 */
export type SubmitFrame<C extends FramePathConnection> = (
  client: Client,
  conn: C,
  bytes: Uint8Array,
  readAt: number,
  ack: () => void,
  fail: (err: Error) => void,
) => void;

/** aedes' keep-alive state of a client (not in its typings): refreshed by every packet read. */
interface KeepAlive {
  _keepaliveInterval?: number;
  _keepaliveTimer?: { refresh(): unknown };
}

/** The function the edge calls with each checked PUBLISH: true when taken, false to leave it to aedes. */
export type TakeFrame<C extends FramePathConnection> = (
  conn: C,
  packet: Uint8Array,
  readAt: number,
  answered: () => void,
) => boolean;

export function framePath<C extends FramePathConnection>(submit: SubmitFrame<C>): TakeFrame<C> {
  return (conn, packet, readAt, answered) => {
    const client = conn.client;
    if (!client?.connected || conn.throttled) return false;
    conn.own ??= {
      topic: Buffer.from(framesTopic(client.id), 'utf8'),
      pubacks: new OrderedPubacks(conn.edge.socket),
      afterDrain: [],
    };
    const own = conn.own;
    const publish = qos1PublishTo(packet, own.topic);
    if (!publish) return false;
    const keepAlive = client as unknown as KeepAlive;
    if ((keepAlive._keepaliveInterval ?? 0) > 0) keepAlive._keepaliveTimer?.refresh(); // as aedes does
    const slot = own.pubacks.take(publish.packetId);
    submit(
      client,
      conn,
      publish.payload,
      readAt,
      () => {
        own.pubacks.release(slot);
        answerWhenDrained(conn.edge.socket, own, answered);
      },
      (err) => {
        answered();
        own.pubacks.discard(); // nothing more is acked on this connection
        client.emit('error', err); // as aedes does with a handler's error: the connection closes
      },
    );
    return true;
  };
}

/**
 * Tells the edge a frame is answered now, or once the socket has drained its backed-up
 * writes (one 'drain' listener for all the frames that wait for it).
 */
export function answerWhenDrained(
  socket: {
    readonly writableNeedDrain: boolean;
    readonly destroyed: boolean;
    once(e: 'drain', f: () => void): unknown;
  },
  own: Pick<Own, 'afterDrain'>,
  answered: () => void,
): void {
  if (!socket.writableNeedDrain || socket.destroyed) {
    answered();
    return;
  }
  own.afterDrain.push(answered);
  if (own.afterDrain.length === 1)
    socket.once('drain', () => {
      for (const a of own.afterDrain.splice(0)) a();
    });
}
