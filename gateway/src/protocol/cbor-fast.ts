/**
 * @module protocol/cbor-fast
 * A fast path for the strict CBOR decoding of PROTOCOL.md §1 frames: it decodes the small
 * subset of CBOR a frame is made of (unsigned and small negative integers, byte strings,
 * ASCII text, definite-length arrays and maps with integer or text keys, tag 18 at the top)
 * and answers `FALLBACK` for anything else, so the caller hands those bytes to cbor2 with
 * the strict options. It never accepts what cbor2 would reject and, when it accepts, yields
 * the same value cbor2 does (`Map` for maps, `Uint8Array` views for byte strings, `Tag` for
 * tag 18): test/unit/cbor-fast.test.ts checks both properties with fast-check on random
 * and mutated frames. So the strict rules (no indefinite lengths, no duplicate keys, no
 * undefined/simple values, no bigints, nothing after the item) are cbor2's, unchanged: the
 * fast path gives up on each of them rather than deciding.
 *
 * Why: cbor2's generic decoder costs about twice the P-256 signature check per frame.
 *
 * Trust: the input is attacker-controlled; every read is bounds-checked and depth is capped.
 */
import { Tag } from 'cbor2';

/** The fast path does not decide these bytes: decode them with cbor2. */
export const FALLBACK: unique symbol = Symbol('cbor-fast fallback');

/** Deeper than any frame: beyond it the fast path gives up. */
const MAX_DEPTH = 8;
/** Thrown internally to unwind to `fastDecode`; never escapes. */
const GIVE_UP = new Error('cbor-fast: fall back');

/** Texts up to this many bytes are looked up in `interned` (keys and device ids fit). */
const INTERN_MAX_LENGTH = 24;
/** Slots of the table (a power of two): the last text seen per hash slot. */
const INTERN_SLOTS = 512;
const interned: (string | undefined)[] = new Array(INTERN_SLOTS).fill(undefined);

class Reader {
  pos = 0;
  readonly bytes: Uint8Array;
  /** Maps as plain objects (`fastDecodeObject`): text keys only, else give up. */
  readonly objects: boolean;
  constructor(bytes: Uint8Array, objects = false) {
    this.bytes = bytes;
    this.objects = objects;
  }

  /**
   * A map of `n` entries as a plain object. Gives up on a key that is not text, on
   * `__proto__` (it would set the prototype) and on any key the object already answers,
   * own (a duplicate: cbor2 rejects) or inherited (`constructor`, `toString`: the Map path
   * handles those), so the object has exactly the map's entries as own properties.
   */
  object(n: number, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.item(depth + 1);
      // No decoded value is undefined, and every name objects inherit has a value, so
      // `!== undefined` is `k in out` here, without the `in` lookup through the prototype.
      if (typeof k !== 'string' || k === '__proto__' || out[k] !== undefined) throw GIVE_UP;
      out[k] = this.item(depth + 1);
    }
    return out;
  }

  byte(): number {
    if (this.pos >= this.bytes.length) throw GIVE_UP;
    return this.bytes[this.pos++]!;
  }

  /** The argument of a head whose additional info is `ai` (RFC 8949 §3); safe integers only. */
  argument(ai: number): number {
    if (ai < 24) return ai;
    if (ai === 24) return this.byte();
    if (ai === 25) return this.byte() * 0x100 + this.byte();
    if (ai === 26)
      return ((this.byte() << 24) >>> 0) + (this.byte() << 16) + (this.byte() << 8) + this.byte();
    if (ai === 27) {
      const hi = ((this.byte() << 24) >>> 0) + (this.byte() << 16) + (this.byte() << 8) + this.byte();
      const lo = ((this.byte() << 24) >>> 0) + (this.byte() << 16) + (this.byte() << 8) + this.byte();
      if (hi >= 0x200000) throw GIVE_UP; // above 2^53 - 1: cbor2 yields a bigint
      return hi * 0x100000000 + lo;
    }
    throw GIVE_UP; // 28-30 reserved, 31 indefinite length
  }

  take(n: number): Uint8Array {
    if (n > this.bytes.length - this.pos) throw GIVE_UP;
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /**
   * An ASCII text of `n` <= INTERN_MAX_LENGTH bytes at `pos`: the strings a frame repeats
   * (every map key, the device id) come from a small table instead of being built again,
   * so decoding makes no garbage for them. A slot holds the last text that hashed to it and
   * is used only when its characters are exactly these bytes.
   */
  shortText(n: number): string {
    const b = this.bytes;
    const start = this.pos;
    const end = start + n;
    let h = n;
    for (let i = start; i < end; i++) {
      const c = b[i]!;
      if (c > 0x7f) throw GIVE_UP; // non-ASCII: cbor2 decides UTF-8 validity
      h = (Math.imul(h, 31) + c) | 0;
    }
    const slot = h & (INTERN_SLOTS - 1);
    const hit = interned[slot];
    this.pos = end;
    if (hit !== undefined && hit.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (hit.charCodeAt(i) !== b[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return hit;
    }
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!);
    interned[slot] = s;
    return s;
  }

  item(depth: number): unknown {
    if (depth > MAX_DEPTH) throw GIVE_UP;
    const head = this.byte();
    const mt = head >> 5;
    const ai = head & 0x1f;
    switch (mt) {
      case 0:
        return this.argument(ai);
      case 1: {
        const n = this.argument(ai);
        if (n > 0xffffffff) throw GIVE_UP;
        return -1 - n;
      }
      case 2:
        return this.take(this.argument(ai));
      case 3: {
        // Read in place: a view per text string (every map key) would cost more than the text.
        const n = this.argument(ai);
        if (n > this.bytes.length - this.pos) throw GIVE_UP;
        const b = this.bytes;
        if (n <= INTERN_MAX_LENGTH) return this.shortText(n);
        let s = '';
        for (let i = this.pos, end = this.pos + n; i < end; i++) {
          const c = b[i]!;
          if (c > 0x7f) throw GIVE_UP; // non-ASCII: cbor2 decides UTF-8 validity
          s += String.fromCharCode(c);
        }
        this.pos += n;
        return s;
      }
      case 4: {
        const n = this.argument(ai);
        if (n > this.bytes.length - this.pos) throw GIVE_UP; // each item takes >= 1 byte
        const out = new Array<unknown>(n);
        for (let i = 0; i < n; i++) out[i] = this.item(depth + 1);
        return out;
      }
      case 5: {
        const n = this.argument(ai);
        if (n * 2 > this.bytes.length - this.pos) throw GIVE_UP;
        if (this.objects) return this.object(n, depth);
        const out = new Map<unknown, unknown>();
        for (let i = 0; i < n; i++) {
          const k = this.item(depth + 1);
          if (typeof k !== 'number' && typeof k !== 'string') throw GIVE_UP;
          if (out.has(k)) throw GIVE_UP; // duplicates: cbor2 rejects (rejectDuplicateKeys)
          out.set(k, this.item(depth + 1));
        }
        return out;
      }
      case 6: {
        // Only COSE_Sign1 (tag 18) at the top: every other tag is cbor2's to interpret.
        if (depth !== 0 || ai !== 18) throw GIVE_UP;
        return new Tag(18, this.item(depth + 1));
      }
      default:
        throw GIVE_UP; // floats, simple values, undefined, null, booleans
    }
  }
}

/**
 * Like `fastDecode` for a top-level map whose maps, at every depth, have text keys only:
 * each becomes a plain object with the same entries (own properties) instead of a `Map`,
 * what a reader of a frame body converts cbor2's Maps to anyway. `FALLBACK` for any other
 * input, including a key that is not text, `__proto__`, or a name objects inherit. Never throws.
 * @example
 * const body = fastDecodeObject(payload); // { v: 1, dev: 'wr-0001', ..., obs: { hr: 72 } }
 */
export function fastDecodeObject(bytes: Uint8Array): Record<string, unknown> | typeof FALLBACK {
  if (bytes.length === 0 || bytes[0]! >> 5 !== 5) return FALLBACK;
  const r = new Reader(bytes, true);
  try {
    const v = r.item(0) as Record<string, unknown>;
    return r.pos === bytes.length ? v : FALLBACK;
  } catch {
    return FALLBACK;
  }
}

/**
 * Decodes `bytes` if they are within the fast subset, else returns `FALLBACK`. Never throws.
 * @example
 * const v = fastDecode(bytes);
 * const value = v === FALLBACK ? decode(bytes, STRICT_DECODE) : v;
 */
export function fastDecode(bytes: Uint8Array): unknown | typeof FALLBACK {
  const r = new Reader(bytes);
  try {
    const v = r.item(0);
    return r.pos === bytes.length ? v : FALLBACK; // trailing bytes: cbor2 rejects
  } catch {
    return FALLBACK;
  }
}
