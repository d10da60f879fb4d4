/**
 * @module core/json-pieces
 * A JSON answer with one long list, made piece by piece: joined, the pieces are exactly
 * `JSON.stringify(value)` (compact), but no piece holds more than a few of the list's items,
 * so the answer can be handed out in slices of the event loop's time (io/outbound
 * `slicedJson`). A day of one 1 Hz device's readings is ~11 MB of JSON; a single
 * `JSON.stringify` of it held the gateway's event loop ~45 ms, and every frame's
 * acknowledgement with it.
 */

/** Items of the list in one piece. */
export const ITEMS_PER_PIECE = 256;

/**
 * `JSON.stringify(value)` in pieces, the array at `value[key]` `perPiece` items a piece.
 * `value` is a plain object (its own enumerable keys, in `Object.keys` order, as
 * `JSON.stringify` takes them; members that JSON leaves out are left out).
 * @example [...jsonPieces({ dev: 'a', readings: rows }, 'readings')].join('') === JSON.stringify({ dev: 'a', readings: rows })
 */
export function* jsonPieces(
  value: Readonly<Record<string, unknown>>,
  key: string,
  perPiece = ITEMS_PER_PIECE,
): Generator<string> {
  const list = value[key];
  if (!Array.isArray(list)) {
    yield JSON.stringify(value);
    return;
  }
  let head = '{';
  const members: string[] = [];
  let tail = '';
  for (const k of Object.keys(value)) {
    if (k === key) {
      members.push(`${JSON.stringify(k)}:[`);
      head += members.join(',');
      members.length = 0;
      tail = ']';
      continue;
    }
    const text = JSON.stringify(value[k]);
    if (text !== undefined) members.push(`${JSON.stringify(k)}:${text}`);
  }
  // The list's members come after its own piece: a comma only where a member follows it.
  tail += members.length > 0 ? `,${members.join(',')}}` : '}';
  yield head;
  for (let i = 0; i < list.length; i += perPiece) {
    const items = list.slice(i, i + perPiece).map((item) => JSON.stringify(item) ?? 'null');
    yield (i > 0 ? ',' : '') + items.join(',');
  }
  yield tail;
}
