/**
 * @module io/transport/lean-parser
 * A lighter byte queue for the MQTT parser of each aedes client (issue 14's memory bench:
 * 10,000 connected devices on one gateway within 400 MB).
 *
 * mqtt-packet's `Parser` keeps the bytes it has not parsed yet in `bl()`, a
 * `BufferListStream`: a whole Duplex stream (its readable and writable states, listeners
 * and closures), ~1.2 KB of heap per connection, of which the parser uses only the
 * `BufferList` half (`append`, `consume`, `length`, `readUInt8`/`16BE`/`32BE`, `slice`,
 * `toString`). bl exports that half on its own (`BufferList`, the same methods, no stream).
 * `leanParser` gives a new client's parser one instead, before it has read a byte.
 *
 * Guarded, since it reaches into a dependency: it changes nothing unless the parser's list
 * is an empty `BufferListStream` of the bl that mqtt-packet itself loads, and the
 * replacement has every method the parser calls. A parser reset after a malformed packet
 * makes a stream again (aedes then closes the connection). If an upgrade of aedes,
 * mqtt-packet or bl changes any of that, nothing is replaced and
 * test/unit/lean-parser.test.ts fails, so the saving is never lost silently.
 */
import { createRequire } from 'node:module';

interface ListLike {
  length: number;
}
interface BlModule {
  BufferListStream: new () => ListLike;
  BufferList: new () => ListLike;
}

/** The methods of its list that mqtt-packet 9's parser calls (parser.js). */
export const PARSER_LIST_METHODS = [
  'append',
  'consume',
  'readUInt8',
  'readUInt16BE',
  'readUInt32BE',
  'slice',
  'toString',
] as const;

/** bl as mqtt-packet (aedes' parser) loads it, or null when it cannot be found. */
function loadBl(): BlModule | null {
  try {
    const fromAedes = createRequire(createRequire(import.meta.url).resolve('aedes'));
    const fromPacket = createRequire(fromAedes.resolve('mqtt-packet'));
    const bl = fromPacket('bl') as Partial<BlModule>;
    if (typeof bl.BufferList !== 'function' || typeof bl.BufferListStream !== 'function') return null;
    const proto = bl.BufferList.prototype as Record<string, unknown>;
    if (!PARSER_LIST_METHODS.every((m) => typeof proto[m] === 'function')) return null;
    return bl as BlModule;
  } catch {
    return null;
  }
}

let bl: BlModule | null | undefined;

/**
 * Gives a freshly made aedes client's parser a plain `BufferList` (see the module's
 * comment). Returns whether it did.
 */
export function leanParser(client: unknown): boolean {
  bl ??= loadBl();
  if (!bl) return false;
  const parser = (client as { _parser?: { _list?: unknown } } | null)?._parser;
  const list = parser?._list;
  if (!parser || !(list instanceof bl.BufferListStream) || list.length !== 0) return false;
  parser._list = new bl.BufferList();
  return true;
}
