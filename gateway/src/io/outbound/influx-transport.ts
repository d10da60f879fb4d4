/**
 * @module io/outbound/influx-transport
 * The InfluxDB client's Node transport with an overall deadline per write (io/outbound/
 * influx-sink): the client alone arms only an idle timeout, and on it leaves the socket open.
 */
import type { CommunicationObserver, SendOptions, Transport } from '@influxdata/influxdb-client';

/** A write cut at its deadline, or by `close()`. */
export class WriteDeadlineError extends Error {
  override name = 'WriteDeadlineError';
}

/**
 * The client's Node transport with an overall deadline per request. The client itself only
 * arms `req.setTimeout` (an idle timeout: a peer sending a byte every few seconds never
 * trips it), and on it reports an error without destroying the request, so the socket stays
 * open. Here each `send` gets an AbortSignal (the client passes it to `http.request`, which
 * destroys the request and its socket on abort); the deadline, any error, and `abortAll()`
 * abort it, and the caller hears the failure at once, whatever the client does after.
 * The write API only uses `send`; `request` and `iterate` (queries) are passed through.
 */
export class DeadlineTransport implements Transport {
  readonly #inflight = new Set<(e: Error) => void>();

  constructor(
    readonly base: Transport,
    readonly deadlineMs: number,
  ) {}

  get chunkCombiner(): Transport['chunkCombiner'] {
    return this.base.chunkCombiner;
  }

  send(
    path: string,
    body: string,
    options: SendOptions,
    callbacks?: Partial<CommunicationObserver<Uint8Array>>,
  ): void {
    const ac = new AbortController();
    let open = true;
    const end = (): boolean => {
      if (!open) return false;
      open = false;
      clearTimeout(timer);
      this.#inflight.delete(fail);
      return true;
    };
    const fail = (e: Error): void => {
      if (!end()) return;
      ac.abort(e); // destroys the request and its socket (a no-op once it has ended)
      callbacks?.error?.(e);
    };
    // The timer holds a strong reference to the controller until it fires or is cleared.
    const timer = setTimeout(
      () => fail(new WriteDeadlineError(`no complete answer within ${this.deadlineMs} ms`)),
      this.deadlineMs,
    );
    this.#inflight.add(fail);
    const observer: Partial<CommunicationObserver<Uint8Array>> = {
      next: (data) => (open ? callbacks?.next?.(data) : undefined),
      error: fail,
      complete: () => {
        if (end()) callbacks?.complete?.();
      },
      responseStarted: (headers, status) => {
        if (open) callbacks?.responseStarted?.(headers, status);
      },
    };
    if (callbacks?.useCancellable) observer.useCancellable = callbacks.useCancellable.bind(callbacks);
    if (callbacks?.useResume) observer.useResume = callbacks.useResume.bind(callbacks);
    this.base.send(path, body, { ...options, signal: ac.signal }, observer);
  }

  request(...args: Parameters<Transport['request']>): ReturnType<Transport['request']> {
    return this.base.request(...args);
  }

  iterate(...args: Parameters<Transport['iterate']>): ReturnType<Transport['iterate']> {
    return this.base.iterate(...args);
  }

  /** Fails and destroys every request in flight. */
  abortAll(reason: string): void {
    for (const fail of [...this.#inflight]) fail(new WriteDeadlineError(reason));
  }
}
