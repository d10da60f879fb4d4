/**
 * @module io/transport/serial
 * Serial ingest (PROTOCOL.md §2 "Serial"): each configured port carries framed COSE_Sign1
 * frames from the device(s) bound to it. Every frame goes through the same
 * `Ingest.submit` as MQTT, so the same acceptance rules apply (PROTOCOL.md §1); the
 * transport identity is the port binding: a frame's kid is its transport device only if
 * that device is bound to the port, otherwise the frame is `identity_mismatch`.
 *
 * Replies (CBOR, framed the same way): `{"ack": seq}` only after `submit` resolved, i.e.
 * the frame (or its identical earlier copy) is durable (ARCHITECTURE.md guarantee 1);
 * `{"nak": seq, "code": text}` for a rejection. A store failure sends nothing: the device
 * keeps the frame and resends it. A frame that cannot be parsed far enough to name its
 * seq (malformed, or longer than any frame) gets a nak with seq 0
 * (protocol/serial-control.ts). Line errors (bad COBS or CRC) get no reply: the bytes
 * are not known to come from the device, which resends after its ack timeout.
 *
 * Trust: the serial line is as untrusted as the network; only the binding of a port to
 * its device(s) is configuration.
 */
import { DEVICE_ID_PATTERN, type DecodedFrame, decodeFrame } from '../../protocol/frame.js';
import { encodeSerialAck, encodeSerialNak, SERIAL_UNKNOWN_SEQ } from '../../protocol/serial-control.js';
import type { SerialLineErrorCode } from '../../protocol/serial-framing.js';
import type { Ingest, IngestResult } from '../ingest/index.js';
import { FramedSerialPort, type FramedSerialPortState } from './serial-port.js';

export interface SerialPortConfig {
  /** Device path: `/dev/ttyUSB0`, or better a stable `/dev/serial/by-id/…` link. */
  path: string;
  /** The device(s) allowed on this port (PROTOCOL.md §1 "serial port binding"). */
  devices: string[];
  /** Default 115200 (8N1). */
  baudRate?: number;
}

export interface SerialIngestOptions {
  ingest: Ingest;
  ports: SerialPortConfig[];
  /** Called for every outcome, e.g. for logs and metrics (no payloads). */
  onOutcome?: (r: IngestResult, transportDev: string, path: string) => void;
  /** Called on every port state change. */
  onState?: (path: string, state: FramedSerialPortState) => void;
  /** Reopen backoff: first delay (default 250 ms) and ceiling (default 5000 ms). */
  retryInitialMs?: number;
  retryMaxMs?: number;
}

export interface SerialPortStatus {
  path: string;
  devices: string[];
  state: FramedSerialPortState;
  opens: number;
  disconnects: number;
  /** Messages that passed COBS and CRC and went to ingest. */
  frames: number;
  acks: number;
  naks: number;
  /** Frames that hit a store failure (no reply; the device resends). */
  storeFailures: number;
  lineErrors: Record<SerialLineErrorCode, number>;
  bytesIn: number;
  maxBufferedBytes: number;
  peakBufferedBytes: number;
}

export interface SerialIngest {
  status(): SerialPortStatus[];
  /** Waits until every port is open (for tests and start-up checks). */
  opened(timeoutMs: number): Promise<void>;
  /** Stops reading; replies to frames still in ingest are not sent. */
  close(): Promise<void>;
}

/**
 * The transport device of a frame on a port bound to `allowed` devices: the kid when
 * it is bound here, else a bound device other than the kid (so the acceptance rules
 * answer `identity_mismatch`). A port bound to one device needs no peek.
 */
export function serialTransportDevice(bytes: Uint8Array, allowed: readonly string[]): string {
  const [first] = allowed;
  if (first === undefined) throw new TypeError('serialTransportDevice: no device is bound to the port');
  if (allowed.length === 1) return first;
  let frame: DecodedFrame;
  try {
    frame = decodeFrame(bytes);
  } catch {
    return first; // malformed: ingest says so
  }
  return allowed.includes(frame.kid) ? frame.kid : first;
}

/**
 * Opens every configured port (retrying those that are not there yet) and feeds its
 * frames to `ingest`.
 * @throws {TypeError} on an empty port list entry, a bad device id, or a path configured twice.
 * @example
 * const serial = startSerialIngest({ ingest, ports: [{ path: '/dev/ttyUSB0', devices: ['wr-0042'] }] });
 * // … later
 * await serial.close();
 */
export function startSerialIngest(opts: SerialIngestOptions): SerialIngest {
  const seen = new Set<string>();
  for (const p of opts.ports) {
    if (typeof p.path !== 'string' || p.path === '')
      throw new TypeError('serial port: path must be a string');
    if (seen.has(p.path)) throw new TypeError('serial port: a path is configured twice');
    seen.add(p.path);
    if (!Array.isArray(p.devices) || p.devices.length === 0)
      throw new TypeError('serial port: at least one device must be bound to each port');
    for (const d of p.devices) {
      if (typeof d !== 'string' || !DEVICE_ID_PATTERN.test(d))
        throw new TypeError('serial port: device ids are 1-64 chars of [A-Za-z0-9._-]');
    }
  }
  let closing = false;
  const runners = opts.ports.map((cfg) => {
    const devices = [...cfg.devices];
    const counts = { frames: 0, acks: 0, naks: 0, storeFailures: 0 };
    const reply = (body: Uint8Array, kind: 'acks' | 'naks') => {
      if (closing) return;
      if (line.send(body)) counts[kind]++;
    };
    const line: FramedSerialPort = new FramedSerialPort({
      path: cfg.path,
      ...(cfg.baudRate !== undefined ? { baudRate: cfg.baudRate } : {}),
      ...(opts.retryInitialMs !== undefined ? { retryInitialMs: opts.retryInitialMs } : {}),
      ...(opts.retryMaxMs !== undefined ? { retryMaxMs: opts.retryMaxMs } : {}),
      onState: (s) => opts.onState?.(cfg.path, s),
      onLineError: (e) => {
        // Longer than any frame: it will never be accepted; tell the device (seq unknown).
        if (e.code === 'oversize') reply(encodeSerialNak(SERIAL_UNKNOWN_SEQ, 'malformed'), 'naks');
      },
      onMessage: (body) => {
        counts.frames++;
        const bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
        const transportDev = serialTransportDevice(bytes, devices);
        opts.ingest.submit(bytes, transportDev, { via: 'serial' }).then(
          (r) => {
            opts.onOutcome?.(r, transportDev, cfg.path);
            if (r.status === 'rejected') reply(encodeSerialNak(r.seq ?? SERIAL_UNKNOWN_SEQ, r.code), 'naks');
            else reply(encodeSerialAck(r.seq), 'acks'); // durable (accepted or duplicate)
          },
          () => {
            counts.storeFailures++; // not durable: no reply, the device resends
          },
        );
      },
    });
    const status = (): SerialPortStatus => ({
      path: cfg.path,
      devices: [...devices],
      state: line.state,
      opens: line.stats.opens,
      disconnects: line.stats.disconnects,
      ...counts,
      lineErrors: { ...line.stats.lineErrors },
      bytesIn: line.stats.bytesIn,
      maxBufferedBytes: line.stats.maxBufferedBytes,
      peakBufferedBytes: line.stats.peakBufferedBytes,
    });
    return { line, status };
  });

  return {
    status: () => runners.map((r) => r.status()),
    async opened(timeoutMs) {
      await Promise.all(runners.map((r) => r.line.opened(timeoutMs)));
    },
    async close() {
      closing = true;
      await Promise.all(runners.map((r) => r.line.close()));
    },
  };
}
