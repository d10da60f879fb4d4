/**
 * @module io/interfaces/pcd05-listener
 * The gateway's MLLP listener for the alarm manager's answers (issue 19): IHE PCD-05
 * `ORU^R41` messages (core/hl7/pcd05). When the manager reports that a clinician accepted an
 * alert on the phone (`accepted by endpoint operator`, OBX-16 = the user), the alarm is
 * acknowledged in that user's name, audited and shown on the ward dashboard, exactly as an
 * acknowledgement made at the central station (io/clinical AlarmService.acknowledge).
 *
 * MLLP carries no credential, so the listener trusts the network path and checks:
 * - the peer: only the addresses in `allowFrom` may connect (others are dropped at once);
 * - the operator: a user of this gateway with a ward role (else `AE`);
 * - the alarm: one of this gateway's open alarms (else `AE`); one already acknowledged
 *   (at the station, or by a resend of the same message) is answered `AA` and left as it is.
 * Limits: `maxConnections` at once, `maxMessageBytes` per message (larger: the connection is
 * dropped), an idle connection is closed after `idleMs`. Every message is answered with an
 * ACK (MSA-1 `AA`, `AE` with an ERR, or `AR`); nothing the manager sends can crash the
 * gateway or reach ingest. Log lines name codes only, never a patient, bed or user's text.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { type Hl7Message, Hl7Segment } from '@medplum/core';
import { Hl7Connection } from '@medplum/hl7';
import { AlarmError } from '../../core/alarms/index.js';
import { field } from '../../core/hl7/er7.js';
import { readPcd05 } from '../../core/hl7/pcd05.js';
import type { AlarmService } from '../clinical/index.js';
import type { Logger } from '../ops/index.js';

export interface Pcd05ListenerOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  port: number;
  /** Peer addresses allowed to connect (IPv4 or IPv6 text; `::ffff:` prefixes are ignored). */
  allowFrom: readonly string[];
  alarms: Pick<AlarmService, 'acknowledge'>;
  /** The role of a gateway user, if there is one (io/identity `UserDirectory`). */
  roleOf: (username: string) => string | undefined;
  /** Roles that may acknowledge alarms. */
  wardRoles: readonly string[];
  maxConnections?: number;
  maxMessageBytes?: number;
  idleMs?: number;
  log?: Pick<Logger, 'info' | 'warn'>;
}

/** What the listener did with the messages it got (tests, `/metrics`). */
export interface Pcd05Counters {
  acknowledged: number;
  statuses: number;
  refused: number;
  droppedPeers: number;
}

const plain = (a: string | undefined) => (a ?? '').replace(/^::ffff:/, '');

export class Pcd05Listener {
  readonly counters: Pcd05Counters = { acknowledged: 0, statuses: 0, refused: 0, droppedPeers: 0 };
  readonly #o: Required<Omit<Pcd05ListenerOptions, 'log'>> & Pick<Pcd05ListenerOptions, 'log'>;
  readonly #allowed: Set<string>;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;

  constructor(o: Pcd05ListenerOptions) {
    this.#o = { host: '127.0.0.1', maxConnections: 8, maxMessageBytes: 64 * 1024, idleMs: 300_000, ...o };
    this.#allowed = new Set(o.allowFrom.map(plain));
  }

  /** The bound port (after `start`). */
  get port(): number {
    const a = this.#server?.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async start(): Promise<void> {
    const server = createServer((socket) => this.#accept(socket));
    server.maxConnections = this.#o.maxConnections;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port, this.#o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.#o.log?.warn('PCD-05 listener error', { error: String(err) }));
    this.#server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  #accept(socket: Socket): void {
    if (!this.#allowed.has(plain(socket.remoteAddress))) {
      this.counters.droppedPeers++;
      this.#o.log?.warn('PCD-05 connection from an address not allowed, dropped', { code: 'forbidden' });
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.setTimeout(this.#o.idleMs, () => socket.destroy());
    // Bytes since the last complete message: a peer that never ends one is dropped.
    let pending = 0;
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.length;
      const end = chunk.lastIndexOf(0x1c);
      if (end >= 0) pending = chunk.length - end - 1;
      if (pending > this.#o.maxMessageBytes) {
        this.counters.refused++;
        socket.destroy();
      }
    });
    const conn = new Hl7Connection(socket, 'utf-8');
    conn.addEventListener('error', () => {
      // An unparsable message: drop the connection (the peer reconnects and resends).
      this.counters.refused++;
      socket.destroy();
    });
    // One message at a time, answered in order (an acknowledgement may wait for the group's ledger).
    let queue = Promise.resolve();
    conn.addEventListener('message', (e) => {
      queue = queue.then(async () => {
        try {
          conn.send(await this.#handle(e.message));
        } catch {
          socket.destroy();
        }
      });
    });
  }

  /** The ACK of one message, after doing what it asks. */
  async #handle(msg: Hl7Message): Promise<Hl7Message> {
    const req = readPcd05(msg);
    if (req.kind === 'invalid') return this.#refuse(msg, req.ack, req.reason);
    if (req.kind === 'status') {
      this.counters.statuses++;
      return msg.buildAck({ ackCode: 'AA' });
    }
    const role = this.#o.roleOf(req.user);
    if (!role || !this.#o.wardRoles.includes(role))
      return this.#refuse(msg, 'AE', 'the operator is not a ward user of this gateway');
    try {
      // Recorded in the alarm's history and the audit log in that user's name.
      await this.#o.alarms.acknowledge(req.alarmId, req.user, 'accepted on the alarm manager (IHE PCD-05)');
    } catch (err) {
      if (!(err instanceof AlarmError)) throw err;
      // Already acknowledged (at the station, or a resend of this message): nothing to do.
      if (err.code === 'alarm_not_active') {
        this.counters.statuses++;
        return msg.buildAck({ ackCode: 'AA' });
      }
      return this.#refuse(msg, 'AE', `${err.code}: ${err.message}`);
    }
    this.counters.acknowledged++;
    return msg.buildAck({ ackCode: 'AA' });
  }

  #refuse(msg: Hl7Message, code: 'AE' | 'AR', reason: string): Hl7Message {
    this.counters.refused++;
    this.#o.log?.warn('PCD-05 message refused', { code });
    // ERR-3 error code (HL7 table 0357: 207 application internal error), ERR-4 E, ERR-8 text.
    const err = new Hl7Segment([
      field('ERR'),
      field(''),
      field(''),
      field('207', 'Application internal error', 'HL70357'),
      field('E'),
      field(''),
      field(''),
      field(''),
      field(reason),
    ]);
    return msg.buildAck({ ackCode: code, errSegment: err });
  }
}
