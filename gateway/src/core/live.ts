/**
 * @module core/live
 * The live bus: accepted readings fan out to dashboard sockets. It holds only the
 * latest reading per device, in memory; nothing here touches disk (ARCHITECTURE.md,
 * "live bus"). Readings are published only after they are durable.
 */
import { type FrameBody, type Observations, waveformSamples } from '../protocol/frame.js';

export interface LiveReading {
  dev: string;
  seq: number;
  /** Device clock, ms since epoch. */
  ts: number;
  obs: Observations;
  bat?: number;
  /** ECG chunk of the frame, if it carried one: sampling rate and microvolt samples. */
  wf?: { fs: number; samples: Int16Array };
  /** Gateway clock when the frame became durable, ms since epoch. */
  receivedAt: number;
  /** The gateway that accepted the frame (core/live-stream), when it came over the stream. */
  origin?: string;
}

/** The readings of accepted frames' bodies, stamped with the gateway clock at which they became durable. */
export function liveReadingsOf(bodies: readonly FrameBody[], receivedAt: number): LiveReading[] {
  return bodies.map(({ dev, seq, ts, obs, bat, wf }) => ({
    dev,
    seq,
    ts,
    obs,
    ...(bat !== undefined ? { bat } : {}),
    ...(wf ? { wf: { fs: wf.fs, samples: waveformSamples(wf) } } : {}),
    receivedAt,
  }));
}

/**
 * Where ingest hands the readings of one commit once they are durable: the live hub itself,
 * or the internal live stream that feeds every gateway's hub (core/live-stream).
 */
export interface LiveSink {
  publishAll(readings: readonly LiveReading[]): void;
}

export interface PatientTile {
  dev: string;
  /** Display label; the bed/patient binding comes with the sealed-store issue. */
  label: string;
  last: LiveReading | null;
}

export type LiveListener = (reading: LiveReading) => void;

export class LiveHub implements LiveSink {
  readonly #latest = new Map<string, LiveReading>();
  readonly #known = new Set<string>();
  readonly #labels = new Map<string, string>();
  readonly #listeners = new Set<LiveListener>();

  /** Makes a device appear on the ward even before its first reading. */
  addDevice(dev: string): void {
    this.#known.add(dev);
  }

  publish(reading: LiveReading): void {
    this.#known.add(reading.dev);
    const prev = this.#latest.get(reading.dev);
    // Live view shows the newest reading by seq; a late gap-filler does not move it back.
    if (!prev || reading.seq > prev.seq) this.#latest.set(reading.dev, reading);
    for (const fn of this.#listeners) {
      try {
        fn(reading);
      } catch {
        // A broken listener must never affect ingest.
      }
    }
  }

  publishAll(readings: readonly LiveReading[]): void {
    for (const r of readings) this.publish(r);
  }

  /** Sets the display label of a device's tile (e.g. its bed and patient after admission). */
  setLabel(dev: string, label: string | null): void {
    if (label === null) this.#labels.delete(dev);
    else this.#labels.set(dev, label);
  }

  /** Subscribes to readings; returns the unsubscribe function. */
  subscribe(fn: LiveListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  snapshot(): PatientTile[] {
    return [...this.#known]
      .sort()
      .map((dev) => ({ dev, label: this.#labels.get(dev) ?? dev, last: this.#latest.get(dev) ?? null }));
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }
}
