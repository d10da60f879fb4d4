/**
 * @module firmware-sim/serial-transport
 * The serial transport of one simulated device (PROTOCOL.md §2 "Serial"): frames go out
 * as `COBS(frame || CRC-32) || 0x00` (protocol/serial-framing.ts); the gateway answers
 * `{"ack": seq}` once a frame is durable or `{"nak": seq, "code": text}` when it was
 * rejected (protocol/serial-control.ts). Store-and-forward: a frame stays in the device's
 * outbox until its ack or nak; frames not answered within `ackTimeoutMs` (default 2 s)
 * are sent again, and so is the whole outbox after the port comes back. Resending is
 * harmless: the gateway acks identical bytes for an accepted (dev, seq) as a duplicate.
 * At most `window` frames (default 32) are outstanding at a time, so a long outage does
 * not flood the line when it returns.
 *
 * Fault injection (seeded, for tests and demos): line noise (random bytes, then a 0x00
 * so the next frame starts clean), split writes (a message in 2-4 writes with delays),
 * merged writes (the messages of one round in a single write), dropped bytes (one byte
 * of a message removed: the gateway's CRC check discards it and the device resends on
 * timeout).
 *
 * Trust: replies come from the line; `decodeSerialReply` parses them defensively and
 * anything else is ignored. A nak with seq 0 (the gateway could not name the frame)
 * is counted; it settles nothing.
 */
import { performance } from 'node:perf_hooks';
import { FramedSerialPort, type FramedSerialPortState } from '../../gateway/src/io/transport/serial-port.js';
import { decodeSerialReply, MAX_SERIAL_REPLY_BYTES } from '../../gateway/src/protocol/serial-control.js';
import { encodeSerialMessage, SERIAL_DELIMITER } from '../../gateway/src/protocol/serial-framing.js';
import type { SimDevice, SimFrame } from './device.js';
import { mulberry32 } from './physiology.js';

/** Probabilities (0-1) per message or per write round; all default 0. */
export interface SerialFaults {
  /** Random bytes (1-`noiseMaxBytes`, then a 0x00) before a message. */
  noise?: number;
  noiseMaxBytes?: number;
  /** A message written in 2-4 pieces, `splitDelayMs` apart (default 2 ms). */
  split?: number;
  splitDelayMs?: number;
  /** The messages of one send round written in one write. */
  merge?: number;
  /** One random byte of a message dropped. */
  drop?: number;
  /** Seed of the fault generator, default 1. */
  seed?: number;
}

export interface SerialDeviceLinkOptions {
  /** The device end of the line, e.g. `/dev/ttyUSB0` or a socat pty link. */
  path: string;
  device: SimDevice;
  /** Default 115200 (8N1). */
  baudRate?: number;
  /** Resend a frame not answered within this long, default 2000 ms. */
  ackTimeoutMs?: number;
  /** Most frames outstanding (sent, not answered, not timed out), default 32. */
  window?: number;
  /** How long `open` waits for the port, default 10000 ms. */
  openTimeoutMs?: number;
  /** Reopen backoff of the port, default 250 ms doubling to 5 s. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  faults?: SerialFaults;
  /** Called with the send → ack time of every frame acknowledged on its first send, in ms. */
  onLatency?: (ms: number) => void;
}

export interface SerialDeviceLinkStats {
  /** Messages written (first sends and resends). */
  written: number;
  acks: number;
  naks: number;
  /** Naks with seq 0: the gateway could not name the frame. */
  naksUnknownSeq: number;
  /** Faults injected, by kind. */
  faults: { noise: number; split: number; merge: number; drop: number };
  /** Line errors on the reply direction. */
  lineErrors: number;
  opens: number;
}

const DEFAULT_ACK_TIMEOUT_MS = 2000;
const DEFAULT_WINDOW = 32;
const DEFAULT_OPEN_TIMEOUT_MS = 10_000;

function checkProbability(p: number | undefined, name: string): void {
  if (p !== undefined && !(Number.isFinite(p) && p >= 0 && p <= 1))
    throw new RangeError(`SerialDeviceLink: faults.${name} must be from 0 to 1`);
}

/**
 * One device's serial line.
 * @example
 * const link = await SerialDeviceLink.open({ path: '/tmp/vt-dev', device });
 * device.makeFrame(); link.send(); // done when the gateway's ack arrives (device.ack)
 * await link.flushed(5000);      // every frame answered
 * await link.close();
 */
export class SerialDeviceLink {
  readonly device: SimDevice;
  readonly stats: SerialDeviceLinkStats = {
    written: 0,
    acks: 0,
    naks: 0,
    naksUnknownSeq: 0,
    faults: { noise: 0, split: 0, merge: 0, drop: 0 },
    lineErrors: 0,
    opens: 0,
  };
  readonly #line: FramedSerialPort;
  readonly #ackTimeoutMs: number;
  readonly #window: number;
  readonly #faults: SerialFaults;
  readonly #rand: () => number;
  readonly #onLatency: ((ms: number) => void) | undefined;
  /** seq -> when it was last written (ms, monotonic); `resent` marks frames sent more than once. */
  readonly #sentAt = new Map<number, { at: number; resent: boolean }>();
  #writes: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout;
  #closed = false;

  private constructor(opts: SerialDeviceLinkOptions) {
    this.device = opts.device;
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    this.#window = opts.window ?? DEFAULT_WINDOW;
    this.#faults = opts.faults ?? {};
    this.#rand = mulberry32(this.#faults.seed ?? 1);
    this.#onLatency = opts.onLatency;
    this.#line = new FramedSerialPort({
      path: opts.path,
      maxBodyBytes: MAX_SERIAL_REPLY_BYTES,
      ...(opts.baudRate !== undefined ? { baudRate: opts.baudRate } : {}),
      ...(opts.retryInitialMs !== undefined ? { retryInitialMs: opts.retryInitialMs } : {}),
      ...(opts.retryMaxMs !== undefined ? { retryMaxMs: opts.retryMaxMs } : {}),
      onMessage: (body) => this.#onReply(body),
      onLineError: () => {
        this.stats.lineErrors++;
      },
      onState: (s) => this.#onState(s),
    });
    this.#timer = setInterval(() => this.#pump(), Math.max(20, Math.min(250, this.#ackTimeoutMs / 4)));
    this.#timer.unref();
  }

  /**
   * Opens the line and starts sending what is already in the device's outbox.
   * @throws {TypeError|RangeError} on invalid options.
   * @throws {Error} when the port does not open within `openTimeoutMs` (the link is closed).
   */
  static async open(opts: SerialDeviceLinkOptions): Promise<SerialDeviceLink> {
    if (typeof opts.device?.makeFrame !== 'function')
      throw new TypeError('SerialDeviceLink: device must be a SimDevice');
    const ackTimeoutMs = opts.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    if (!(Number.isFinite(ackTimeoutMs) && ackTimeoutMs > 0))
      throw new RangeError('SerialDeviceLink: ackTimeoutMs must be a positive number');
    const window = opts.window ?? DEFAULT_WINDOW;
    if (!Number.isSafeInteger(window) || window < 1)
      throw new RangeError('SerialDeviceLink: window must be a positive integer');
    for (const k of ['noise', 'split', 'merge', 'drop'] as const) checkProbability(opts.faults?.[k], k);
    const link = new SerialDeviceLink(opts);
    try {
      await link.#line.opened(opts.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS);
    } catch (err) {
      await link.close();
      throw err;
    }
    link.#pump();
    return link;
  }

  get state(): FramedSerialPortState {
    return this.#line.state;
  }

  /**
   * Sends the device's outbox frames that are due, now if the window allows (else on a
   * later round); call it after `device.makeFrame()`. Each frame stays in the outbox
   * until answered.
   */
  send(): void {
    this.#pump();
  }

  /**
   * Resolves when the device's outbox is empty (every frame acked or naked).
   * @throws {Error} when it is not within `timeoutMs`.
   */
  async flushed(timeoutMs: number): Promise<void> {
    const end = performance.now() + timeoutMs;
    while (this.device.unackedCount > 0) {
      if (performance.now() > end) throw new Error('serial link: frames still unacknowledged');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops resending and closes the port (written bytes are flushed first). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#writes;
    await this.#line.close();
  }

  #onState(s: FramedSerialPortState): void {
    if (s !== 'open') return;
    this.stats.opens++;
    // Back after an outage: whatever was outstanding may be lost; send it again now.
    for (const s of this.#sentAt.values()) s.at = Number.NEGATIVE_INFINITY;
    this.#pump();
  }

  /** Sends outbox frames never sent or overdue, oldest first, within the window. */
  #pump(): void {
    if (this.#closed || this.#line.state !== 'open') return;
    const now = performance.now();
    let outstanding = 0;
    const due: SimFrame[] = [];
    for (const [seq, s] of this.#sentAt) {
      if (!this.device.isUnacked(seq)) this.#sentAt.delete(seq);
      else if (now - s.at < this.#ackTimeoutMs) outstanding++;
    }
    for (const f of this.device.unacked) {
      if (outstanding + due.length >= this.#window) break;
      const s = this.#sentAt.get(f.seq);
      if (s === undefined || now - s.at >= this.#ackTimeoutMs) due.push(f);
    }
    if (due.length === 0) return;
    let resent = 0;
    for (const f of due) {
      const was = this.#sentAt.get(f.seq);
      if (was) resent++;
      this.#sentAt.set(f.seq, { at: now, resent: was !== undefined });
    }
    if (resent > 0) this.device.noteResent(resent);
    this.#write(due.map((f) => encodeSerialMessage(f.bytes)));
  }

  /** Writes messages with the configured faults, in order (one write queue). */
  #write(messages: Uint8Array[]): void {
    const f = this.#faults;
    const pieces: { bytes: Uint8Array; delayMs: number }[] = [];
    for (let m of messages) {
      this.stats.written++;
      if (f.drop && this.#rand() < f.drop && m.length > 2) {
        const at = Math.floor(this.#rand() * (m.length - 1)); // never the final delimiter
        m = Uint8Array.from([...m.subarray(0, at), ...m.subarray(at + 1)]);
        this.stats.faults.drop++;
      }
      if (f.noise && this.#rand() < f.noise) {
        const n = 1 + Math.floor(this.#rand() * (f.noiseMaxBytes ?? 64));
        const noise = new Uint8Array(n + 1);
        for (let i = 0; i < n; i++) noise[i] = Math.floor(this.#rand() * 256);
        noise[n] = SERIAL_DELIMITER; // the next message starts clean
        pieces.push({ bytes: noise, delayMs: 0 });
        this.stats.faults.noise++;
      }
      if (f.split && this.#rand() < f.split && m.length > 4) {
        const parts = 2 + Math.floor(this.#rand() * 3);
        const cuts = new Set<number>();
        while (cuts.size < parts - 1) cuts.add(1 + Math.floor(this.#rand() * (m.length - 1)));
        let from = 0;
        for (const cut of [...cuts].sort((a, b) => a - b)) {
          pieces.push({ bytes: m.subarray(from, cut), delayMs: from === 0 ? 0 : (f.splitDelayMs ?? 2) });
          from = cut;
        }
        pieces.push({ bytes: m.subarray(from), delayMs: f.splitDelayMs ?? 2 });
        this.stats.faults.split++;
      } else {
        pieces.push({ bytes: m, delayMs: 0 });
      }
    }
    const merge = f.merge !== undefined && f.merge > 0 && messages.length > 1 && this.#rand() < f.merge;
    if (merge) this.stats.faults.merge++;
    this.#writes = this.#writes.then(async () => {
      let batch: Uint8Array[] = [];
      const flush = () => {
        if (batch.length > 0) this.#line.writeRaw(Buffer.concat(batch));
        batch = [];
      };
      for (const p of pieces) {
        if (p.delayMs > 0) {
          flush();
          await new Promise((r) => setTimeout(r, p.delayMs));
        }
        batch.push(p.bytes);
        if (!merge) flush();
      }
      flush();
    });
  }

  #onReply(body: Buffer): void {
    const r = decodeSerialReply(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    if (r === null) return;
    if (r.kind === 'nak' && r.seq === 0) {
      this.stats.naksUnknownSeq++;
      return;
    }
    const sent = this.#sentAt.get(r.seq);
    this.#sentAt.delete(r.seq);
    if (r.kind === 'ack') {
      this.stats.acks++;
      if (sent && !sent.resent && this.device.isUnacked(r.seq)) {
        try {
          this.#onLatency?.(performance.now() - sent.at);
        } catch {
          // A broken statistics hook must not affect delivery.
        }
      }
      this.device.ack(r.seq); // PROTOCOL.md §2: the frame is durable at the gateway
    } else {
      this.stats.naks++;
      this.device.reject(r.seq, r.code); // the decision is final
    }
  }
}
