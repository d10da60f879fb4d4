/**
 * @module io/transport/serial-port
 * One serial line carrying PROTOCOL.md §2 framed messages (COBS + CRC-32 + 0x00), over
 * `serialport` 13, that keeps itself open: when the port disappears (a USB adapter is
 * unplugged, a pseudo-terminal's peer exits) or cannot be opened yet, it retries with
 * backoff (250 ms doubling to 5 s by default) and resumes when the path comes back.
 * Used by the gateway's serial ingest (io/serial.ts) and by the simulator's serial
 * transport (firmware-sim/src/serial-transport.ts).
 *
 * Each (re)open gets a fresh `CobsCrcParser`: bytes of a message cut by the disconnect
 * are dropped with the old parser, never glued to the next message.
 *
 * STACK-NOTES.md: never call `SerialPort.list()` (it crashes without udevadm);
 * `drain()` then `close()` loses bytes, so `close()` here ends the stream and waits for
 * `finish` before closing the port.
 */
import { statSync } from 'node:fs';
import { SerialPort } from 'serialport';
import {
  CobsCrcParser,
  encodeSerialMessage,
  SERIAL_DEFAULT_BAUD_RATE,
  type SerialLineError,
  type SerialLineErrorCode,
} from '../../protocol/serial-framing.js';

export type FramedSerialPortState = 'opening' | 'open' | 'reopening' | 'closed';

export interface FramedSerialPortOptions {
  /** Device path, e.g. `/dev/ttyUSB0` or a stable `/dev/serial/by-id/…` link. */
  path: string;
  /** Default 115200 (PROTOCOL.md §2); always 8 data bits, no parity, 1 stop bit. */
  baudRate?: number;
  /** Largest body accepted from the line (default: a complete frame, see CobsCrcParser). */
  maxBodyBytes?: number;
  /** First retry delay after a failed open or a disconnect, default 250 ms. */
  retryInitialMs?: number;
  /** Retry delay ceiling, default 5000 ms. */
  retryMaxMs?: number;
  /** Every valid message body, in line order. */
  onMessage: (body: Buffer) => void;
  onLineError?: (e: SerialLineError) => void;
  /** Every state change (e.g. to resend after a reopen). */
  onState?: (state: FramedSerialPortState) => void;
}

export interface FramedSerialPortStats {
  /** Successful opens (the first one and every reopen). */
  opens: number;
  /** Times the open port went away. */
  disconnects: number;
  /** Valid messages received. */
  messages: number;
  /** Line errors by code (bad COBS, bad CRC, too short, oversize). */
  lineErrors: Record<SerialLineErrorCode, number>;
  /** Bytes received from the line. */
  bytesIn: number;
  /** The parser's bound, and the most it ever held (over every parser of this port). */
  maxBufferedBytes: number;
  peakBufferedBytes: number;
}

/** libuv poll flags of @serialport/bindings-cpp (UV_READABLE, UV_WRITABLE). */
const UV_READABLE = 1;
const UV_WRITABLE = 2;

interface BindingPoller {
  poll(flags: number): void;
  listenerCount(event: string): number;
}

/**
 * Works around a bug of @serialport/bindings-cpp 13 (src/poller.cpp): `Poller::poll(flags)`
 * restarts the libuv poll with only the new flag, so a read that starts waiting for
 * `readable` drops a pending write's wait for `writable` (and the other way round). On a
 * line that reads and writes at once, a write that hit EAGAIN then never resumes until
 * bytes happen to arrive: both ends of a pty pair stall. Measured here with socat ptys
 * (a device writing 10 MB while reading acks). The fix keeps every awaited flag in
 * each poll. Without the internals (another binding) nothing is patched.
 */
function pollBothWays(port: SerialPort): void {
  const poller = (port.port as unknown as { poller?: BindingPoller } | undefined)?.poller;
  if (!poller || typeof poller.poll !== 'function' || typeof poller.listenerCount !== 'function') return;
  const poll = poller.poll.bind(poller);
  poller.poll = (flags: number) =>
    poll(
      flags |
        (poller.listenerCount('readable') > 0 ? UV_READABLE : 0) |
        (poller.listenerCount('writable') > 0 ? UV_WRITABLE : 0),
    );
}

const DEFAULT_RETRY_INITIAL_MS = 250;
/** How often an open port's path is checked (see `deviceIdentity`). */
const WATCHDOG_MS = 250;

/** Device and inode of what `path` resolves to now, or '' when it does not exist. */
function deviceIdentity(path: string): string {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}:${st.rdev}`;
  } catch {
    return '';
  }
}
const DEFAULT_RETRY_MAX_MS = 5000;

/**
 * A framed serial line that reopens itself.
 * @example
 * const line = new FramedSerialPort({ path: '/dev/ttyUSB0', onMessage: (b) => handle(b) });
 * await line.opened(5000);
 * line.send(encodeSerialAck(1));
 * await line.close();
 */
export class FramedSerialPort {
  readonly path: string;
  readonly stats: FramedSerialPortStats = {
    opens: 0,
    disconnects: 0,
    messages: 0,
    lineErrors: { bad_cobs: 0, bad_crc: 0, too_short: 0, oversize: 0 },
    bytesIn: 0,
    maxBufferedBytes: 0,
    peakBufferedBytes: 0,
  };
  readonly #o: FramedSerialPortOptions;
  readonly #baudRate: number;
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  #state: FramedSerialPortState = 'opening';
  #port: SerialPort | undefined;
  #parser: CobsCrcParser | undefined;
  #retryMs: number;
  #timer: NodeJS.Timeout | undefined;
  #waiters = new Set<() => void>();
  #watchdog: NodeJS.Timeout | undefined;

  /** Starts opening at once. @throws {TypeError|RangeError} on invalid options. */
  constructor(opts: FramedSerialPortOptions) {
    if (typeof opts.path !== 'string' || opts.path === '')
      throw new TypeError('FramedSerialPort: path must be a string');
    if (typeof opts.onMessage !== 'function')
      throw new TypeError('FramedSerialPort: onMessage must be a function');
    this.#baudRate = opts.baudRate ?? SERIAL_DEFAULT_BAUD_RATE;
    if (!Number.isSafeInteger(this.#baudRate) || this.#baudRate < 1)
      throw new RangeError('FramedSerialPort: baudRate must be a positive integer');
    this.#retryInitialMs = opts.retryInitialMs ?? DEFAULT_RETRY_INITIAL_MS;
    this.#retryMaxMs = opts.retryMaxMs ?? DEFAULT_RETRY_MAX_MS;
    if (!(this.#retryInitialMs > 0 && this.#retryMaxMs >= this.#retryInitialMs))
      throw new RangeError('FramedSerialPort: retry delays must be positive, max ≥ initial');
    this.path = opts.path;
    this.#o = opts;
    this.#retryMs = this.#retryInitialMs;
    this.stats.maxBufferedBytes = new CobsCrcParser(
      opts.maxBodyBytes !== undefined ? { maxBodyBytes: opts.maxBodyBytes } : {},
    ).maxBufferedBytes;
    this.#open();
  }

  get state(): FramedSerialPortState {
    return this.#state;
  }

  /** Bytes written but not yet handed to the operating system. */
  get pendingWriteBytes(): number {
    return this.#port?.writableLength ?? 0;
  }

  /** Bytes the current parser holds while waiting for a delimiter. */
  get bufferedBytes(): number {
    return this.#parser?.bufferedBytes ?? 0;
  }

  /**
   * Resolves when the port is open (at once if it is).
   * @throws {Error} when it is not open within `timeoutMs` or the port is closed.
   */
  opened(timeoutMs: number): Promise<void> {
    if (this.#state === 'open') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        if (this.#state === 'open') resolve();
        else reject(new Error('serial port closed'));
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(done);
        reject(new Error('serial port did not open in time'));
      }, timeoutMs);
      this.#waiters.add(done);
    });
  }

  /**
   * Frames `body` (COBS + CRC-32 + 0x00) and writes it.
   * @returns false when the port is not open (nothing was written).
   */
  send(body: Uint8Array): boolean {
    return this.writeRaw(encodeSerialMessage(body));
  }

  /** Writes bytes as they are (framed messages, or line noise in fault injection). */
  writeRaw(bytes: Uint8Array): boolean {
    const port = this.#port;
    if (this.#state !== 'open' || !port?.isOpen) return false;
    port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return true;
  }

  /** Ends the stream, waits until written bytes are flushed, closes the port; no reopen. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#setState('closed');
    clearTimeout(this.#timer);
    clearInterval(this.#watchdog);
    const port = this.#port;
    this.#port = undefined;
    if (!port) return;
    if (port.isOpen) {
      // STACK-NOTES.md: end() and wait for finish; drain() then close() loses bytes.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        port.end(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    this.#detach(port);
  }

  #setState(s: FramedSerialPortState): void {
    if (this.#state === s) return;
    this.#state = s;
    for (const w of [...this.#waiters]) w();
    try {
      this.#o.onState?.(s);
    } catch {
      // A broken hook must not stop the line.
    }
  }

  #open(): void {
    if (this.#state === 'closed') return;
    const port = new SerialPort({
      path: this.path,
      baudRate: this.#baudRate,
      dataBits: 8,
      parity: 'none',
      stopBits: 1,
      autoOpen: false,
    });
    // I/O errors are asynchronous (STYLE.md §3); a write to a vanished port lands here.
    port.on('error', () => {});
    port.open((err) => {
      if (this.#state === 'closed') {
        if (!err) port.close(() => {});
        return;
      }
      if (err) {
        this.#retry();
        return;
      }
      this.#attach(port);
    });
  }

  #attach(port: SerialPort): void {
    pollBothWays(port);
    const parser = new CobsCrcParser(
      this.#o.maxBodyBytes !== undefined ? { maxBodyBytes: this.#o.maxBodyBytes } : {},
    );
    parser.on('data', (body: Buffer) => {
      this.stats.messages++;
      this.#o.onMessage(body);
    });
    parser.on('lineError', (e: SerialLineError) => {
      this.stats.lineErrors[e.code]++;
      this.#o.onLineError?.(e);
    });
    port.on('data', (chunk: Buffer) => {
      this.stats.bytesIn += chunk.length;
      parser.write(chunk);
      if (parser.stats.peakBufferedBytes > this.stats.peakBufferedBytes)
        this.stats.peakBufferedBytes = parser.stats.peakBufferedBytes;
    });
    port.on('close', () => {
      if (this.#port !== port) return;
      this.stats.disconnects++;
      clearInterval(this.#watchdog);
      this.#detach(port);
      this.#port = undefined;
      this.#retry();
    });
    // Any I/O error ends this open: a vanished pty reads EIO, which serialport reports
    // as an error, not always as a disconnect. Close, then reopen with backoff.
    port.on('error', () => this.#drop(port));
    // The path going away (an unplugged adapter, a by-id link removed) or pointing at
    // another device ends this open too, even if the old descriptor reports nothing.
    const identity = deviceIdentity(this.path);
    this.#watchdog = setInterval(() => {
      if (deviceIdentity(this.path) !== identity) this.#drop(port);
    }, WATCHDOG_MS);
    this.#watchdog.unref();
    this.#port = port;
    this.#parser = parser;
    this.#retryMs = this.#retryInitialMs;
    this.stats.opens++;
    this.#setState('open');
  }

  /** Ends the current open after a failure; the 'close' handler schedules the reopen. */
  #drop(port: SerialPort): void {
    if (this.#port !== port) return;
    if (port.isOpen) {
      port.close(() => {});
      return;
    }
    port.emit('close');
  }

  #detach(port: SerialPort): void {
    port.removeAllListeners('data');
    port.removeAllListeners('close');
    const parser = this.#parser;
    this.#parser = undefined;
    parser?.removeAllListeners('data');
    parser?.destroy();
  }

  #retry(): void {
    if (this.#state === 'closed') return;
    this.#setState(this.stats.opens > 0 ? 'reopening' : 'opening');
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMaxMs, this.#retryMs * 2);
    this.#timer = setTimeout(() => this.#open(), delay);
    this.#timer.unref();
  }
}
