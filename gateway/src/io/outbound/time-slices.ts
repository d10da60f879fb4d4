/**
 * @module io/outbound/time-slices
 * A download's text handed out in slices of the event loop's time. A stream's backpressure
 * does not make a long export yield: to a client that reads as fast as it is sent (another
 * process on the host, a fast LAN), every socket write completes at once and `drain` comes
 * within the same turn, so `Readable.from(pieces).pipe(res)` takes the whole export in one
 * turn of the loop: measured here, a 6-hour FHIR export (178 MB) held the gateway's event
 * loop 2.1 s, and no frame was acknowledged meanwhile. So after each slice of at most
 * `SLICE_MS` of work, the pieces wait one turn (`setImmediate`: the loop's timers and I/O,
 * the ingest among them, go first). A JSON answer with a long list (a query's raw readings)
 * is handed out the same way (`slicedJson`).
 */
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { jsonPieces } from '../../core/json-pieces.js';

/** The longest a download makes its pieces before it lets the event loop turn. */
export const SLICE_MS = 10;

/**
 * `pieces`, unchanged and in order, with a turn of the event loop after every `sliceMs` of
 * the time spent making them.
 * @example reply.send(Readable.from(inTimeSlices(r.text())));
 */
export async function* inTimeSlices(
  pieces: Iterable<string> | AsyncIterable<string>,
  sliceMs = SLICE_MS,
): AsyncGenerator<string> {
  let since = performance.now();
  for await (const piece of pieces) {
    yield piece;
    if (performance.now() - since >= sliceMs) {
      await nextTurn();
      since = performance.now();
    }
  }
}

/** Lists up to this long are answered in one piece (its `JSON.stringify` takes ~1 ms). */
export const SLICED_JSON_FROM = 4096;

/**
 * `value` as its JSON answer: the object itself where its list `value[key]` is short (the
 * framework sends it), else its exact JSON text (core/json-pieces) as a stream in time
 * slices, with `reply`'s type set to JSON.
 * @example return slicedJson({ dev, readings }, 'readings', reply);
 */
export function slicedJson<T extends Readonly<Record<string, unknown>>>(
  value: T,
  key: keyof T & string,
  reply: { type(contentType: string): unknown },
): T | Readable {
  const list = value[key];
  if (!Array.isArray(list) || list.length <= SLICED_JSON_FROM) return value;
  reply.type('application/json; charset=utf-8');
  return Readable.from(inTimeSlices(jsonPieces(value, key)));
}
