/**
 * @module io/interfaces/mllp-receiver
 * The HL7 v2 outbound interfaces over MLLP (issue 19): IHE PCD-01 (one `ORU^R01` per reading,
 * core/hl7/pcd01, the default) to the interface engine, and IHE PCD-04 (one `ORU^R40` per
 * alarm transition, core/hl7/pcd04) to an alarm manager. Sent over MLLP (VT … FS CR framing)
 * with @medplum/hl7's `Hl7Client`, one message at a time, each awaiting its acknowledgement
 * before the next is sent.
 *
 * Acknowledgements (MSA-1): `AA` or `CA` → delivered, next message; `AE`, `AR`, `CE`, `CR` →
 * `receiver_rejected` for that message (`delivered` = its index in the batch). No ACK within
 * `ackTimeoutMs`, a refused, failed or closed connection, an ACK whose MSA-2 is not the
 * MSH-10 just sent (a stray ACK), an unknown MSA-1, an unparsable reply or more than
 * `maxAckBytes` of reply → `receiver_unavailable`: the connection is dropped and the next
 * `deliver` connects anew. The messages ask for commit acknowledgement only (MSH-15 `AL`,
 * MSH-16 `NE`); a later ACK repeating the control id of a message already acknowledged on
 * the same connection (a receiver answering CA, then AA) is ignored.
 *
 * Nothing is logged; error reasons name batch positions, ACK codes and sizes only — never a
 * patient id, bed or value (the ACK's free text, MSA-3 / ERR, is not copied either).
 */
import { type Hl7Message, OperationOutcomeError } from '@medplum/core';
import { Hl7Client, type Hl7Connection, type Hl7ErrorEvent, type Hl7MessageEvent } from '@medplum/hl7';
import type { HeaderOptions } from '../../core/hl7/er7.js';
import { buildPcd01Message } from '../../core/hl7/pcd01.js';
import { type DeliveryError, deliveryError, type OutboundReading, type Receiver } from './receiver.js';

export interface MllpReceiverOptions<T = OutboundReading> {
  /** The configured name (the delivery cursor's key), e.g. `ehr-mllp`. */
  name: string;
  host: string;
  port: number;
  /** How long to wait for each message's ACK. Default 10 s. */
  ackTimeoutMs?: number;
  /** How long a connection attempt may take. Default: `ackTimeoutMs`. */
  connectTimeoutMs?: number;
  /** MSH-3..6, MSH-11 and the patient-id authority of every message. */
  message: Omit<HeaderOptions, 'now'>;
  /** The message of one item (its MSH-10 is the item's stable id). Default: PCD-01 of a reading. */
  build?: (item: T, header: HeaderOptions) => Hl7Message;
  /** Largest message sent (UTF-8 bytes); a larger one is `receiver_rejected`. Default 64 KiB. */
  maxMessageBytes?: number;
  /** Most bytes read while awaiting one ACK. Default 64 KiB. */
  maxAckBytes?: number;
  /** MSH-7 clock. Default `() => new Date()`. */
  now?: () => Date;
  /** Called with each ACK's MSA-1 (of the message at `index`), before it is judged. */
  onAck?: (code: string, index: number) => void;
}

/** The socket's error code (ECONNREFUSED, ETIMEDOUT, …), never text the peer sent. */
function socketCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? code : 'connection failed';
}

const ACCEPT = new Set(['AA', 'CA']);
const REJECT = new Set(['AE', 'AR', 'CE', 'CR']);
/** Control ids remembered per connection to tolerate a second ACK of an acknowledged message. */
const ACKED_MEMORY = 1024;

/** Sends HL7 v2 messages to one MLLP receiver (the interface engine, an alarm manager). */
export class MllpReceiver<T = OutboundReading> implements Receiver<T> {
  readonly name: string;
  readonly #o: Required<Omit<MllpReceiverOptions<T>, 'name'>>;
  #client: Hl7Client | undefined;
  #connection: Hl7Connection | undefined;
  /** Control ids acknowledged on the current connection (insertion order, bounded). */
  #acked = new Set<string>();

  constructor(options: MllpReceiverOptions<T>) {
    this.name = options.name;
    const ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
    this.#o = {
      host: options.host,
      port: options.port,
      ackTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? ackTimeoutMs,
      message: options.message,
      // The default is for readings (T = OutboundReading); other items pass their own builder.
      build: options.build ?? ((r, h) => buildPcd01Message(r as unknown as OutboundReading, h)),
      maxMessageBytes: options.maxMessageBytes ?? 64 * 1024,
      maxAckBytes: options.maxAckBytes ?? 64 * 1024,
      now: options.now ?? (() => new Date()),
      onAck: options.onAck ?? (() => {}),
    };
  }

  async deliver(batch: readonly T[]): Promise<void> {
    for (let i = 0; i < batch.length; i++) {
      const msg = this.#o.build(batch[i] as T, { ...this.#o.message, now: this.#o.now() });
      const controlId = msg.getSegment('MSH')?.getField(10)?.toString() ?? '';
      const bytes = Buffer.byteLength(msg.toString(), 'utf8');
      if (bytes > this.#o.maxMessageBytes) {
        throw deliveryError(
          'receiver_rejected',
          `message ${i} of the batch is ${bytes} bytes, over the ${this.#o.maxMessageBytes}-byte bound`,
          i,
        );
      }
      const conn = await this.#connect(i);
      const ack = await this.#exchange(conn, msg, controlId, i);
      const code = ack.getSegment('MSA')?.getField(1)?.toString().toUpperCase() ?? '';
      const echoed = ack.getSegment('MSA')?.getField(2)?.toString() ?? '';
      if (echoed !== controlId) {
        await this.#drop();
        throw deliveryError(
          'receiver_unavailable',
          `the ACK of message ${i} names another message (MSA-2)`,
          i,
        );
      }
      this.#remember(controlId);
      this.#o.onAck(code, i);
      if (ACCEPT.has(code)) continue;
      if (REJECT.has(code)) {
        throw deliveryError(
          'receiver_rejected',
          `the receiver answered ${code} to message ${i} of the batch`,
          i,
        );
      }
      await this.#drop();
      throw deliveryError('receiver_unavailable', `the ACK of message ${i} has no known MSA-1 code`, i);
    }
  }

  async close(): Promise<void> {
    await this.#drop();
  }

  /** The open connection, or a new one. */
  async #connect(delivered: number): Promise<Hl7Connection> {
    if (this.#connection && !this.#connection.isClosed()) return this.#connection;
    await this.#drop();
    const client = new Hl7Client({
      host: this.#o.host,
      port: this.#o.port,
      connectTimeout: this.#o.connectTimeoutMs,
      keepAlive: true,
    });
    // The client re-dispatches socket errors as events; without a listener they are dropped
    // quietly (EventTarget), and the exchange below observes the connection itself.
    client.addEventListener('error', () => {});
    this.#client = client;
    try {
      this.#connection = await client.connect();
      this.#acked = new Set();
      return this.#connection;
    } catch (err) {
      await this.#drop();
      throw deliveryError(
        'receiver_unavailable',
        `cannot connect to ${this.#o.host}:${this.#o.port}: ${socketCode(err)}`,
        delivered,
        err,
      );
    }
  }

  /** Sends one message and resolves with the ACK whose MSA-2 is its control id. */
  #exchange(conn: Hl7Connection, msg: Hl7Message, controlId: string, i: number): Promise<Hl7Message> {
    return new Promise<Hl7Message>((resolve, reject) => {
      let settled = false;
      let read = 0;
      const fail = (reason: string, cause?: unknown): void => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(deliveryError('receiver_unavailable', reason, i, cause));
      };
      const onClose = (): void =>
        fail(`the receiver closed the connection before acknowledging message ${i}`);
      const onError = (e: Hl7ErrorEvent): void => {
        // An ACK for an unknown control id is reported as an OperationOutcomeError; onMessage
        // decides about it. Anything else (socket error, unparsable reply) ends the exchange.
        if (!(e.error instanceof OperationOutcomeError))
          fail(`the MLLP connection failed at message ${i}`, e.error);
      };
      const onMessage = (e: Hl7MessageEvent): void => {
        const id = e.message.getSegment('MSA')?.getField(2)?.toString();
        if (id === controlId || (id !== undefined && this.#acked.has(id))) return;
        fail(`a stray reply arrived while awaiting the ACK of message ${i}`);
      };
      const onData = (chunk: Buffer): void => {
        read += chunk.length;
        if (read > this.#o.maxAckBytes)
          fail(`the reply to message ${i} exceeds ${this.#o.maxAckBytes} bytes`);
      };
      const cleanup = (): void => {
        conn.removeEventListener('close', onClose);
        conn.removeEventListener('error', onError);
        conn.removeEventListener('message', onMessage);
        conn.socket.off('data', onData);
      };
      conn.addEventListener('close', onClose);
      conn.addEventListener('error', onError);
      conn.addEventListener('message', onMessage);
      conn.socket.on('data', onData);
      conn.sendAndWait(msg, { returnAck: 'first', timeoutMs: this.#o.ackTimeoutMs }).then(
        (ack) => {
          if (settled) return;
          settled = true;
          cleanup();
          resolve(ack);
        },
        (err: unknown) => fail(`no ACK within ${this.#o.ackTimeoutMs} ms`, err),
      );
    }).catch(async (err: DeliveryError) => {
      await this.#drop();
      throw err;
    });
  }

  #remember(controlId: string): void {
    this.#acked.add(controlId);
    if (this.#acked.size > ACKED_MEMORY) {
      const oldest = this.#acked.values().next().value as string;
      this.#acked.delete(oldest);
    }
  }

  /** Closes and forgets the connection (the next deliver connects anew). */
  async #drop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#connection = undefined;
    this.#acked = new Set();
    if (client) await client.close().catch(() => {});
  }
}
