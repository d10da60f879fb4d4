/**
 * @module verify/hash-text
 * The chain hashes of an entry's report as text (`EntryResult.frameHash` and `.prev`,
 * 0x-prefixed lowercase hex, as protocol/frame's `frameHashHex` writes them). A report
 * keeps both for every entry, so they are made to be kept: each a flat string of 66
 * characters (not "0x" joined to the hex, a pair the engine flattens into a third string
 * when the sequence analysis compares them), and shared: in an unbroken chain a frame's
 * `prev` is the frame hash of its device's frame before it in the bundle, and then it is
 * that very string, so the report holds one text per frame rather than two and the
 * analysis compares them by reference. Same values either way; synchronous.
 */
import { hash } from 'node:crypto';
import type { Hex } from '../ledger/index.js';

const HASH_BYTES = 32;
const HEX_DIGITS = '0123456789abcdef';

/** "0x" and the digits of one hash, rewritten for each text (making a text is synchronous). */
const TEXT = Buffer.alloc(2 + 2 * HASH_BYTES);
TEXT.write('0x', 0, 'latin1');

/** The 0x-hex text of a SHA-256 digest given as node:crypto's 'binary' text (a byte a character). */
function digestText(digest: string): Hex {
  for (let i = 0, j = 2; i < HASH_BYTES; i++, j += 2) {
    const b = digest.charCodeAt(i);
    TEXT[j] = HEX_DIGITS.charCodeAt(b >> 4);
    TEXT[j + 1] = HEX_DIGITS.charCodeAt(b & 0x0f);
  }
  return TEXT.toString('latin1') as Hex;
}

/** The 0x-hex text of 32 bytes. */
function bytesText(bytes: Uint8Array): Hex {
  for (let i = 0, j = 2; i < HASH_BYTES; i++, j += 2) {
    const b = bytes[i]!;
    TEXT[j] = HEX_DIGITS.charCodeAt(b >> 4);
    TEXT[j + 1] = HEX_DIGITS.charCodeAt(b & 0x0f);
  }
  return TEXT.toString('latin1') as Hex;
}

/** The last frame hash of one device: the digest as node:crypto's 'binary' text, and its hex. */
interface LastHash {
  digest: string;
  text: Hex;
}

/** One verification's texts: per device, the last frame hash made (`frameHash`), for the next `prev`. */
export class ChainHashText {
  readonly #last = new Map<string, LastHash>();

  /**
   * `prev` of a frame of `dev` as text: the text of `dev`'s last frame hash (`frameHash`)
   * when the bytes are that hash, else new text.
   */
  prev(dev: string, prev: Uint8Array): Hex {
    const last = this.#last.get(dev);
    if (last !== undefined && prev.length === HASH_BYTES) {
      let same = true;
      for (let i = 0; i < HASH_BYTES; i++) {
        if (prev[i] !== last.digest.charCodeAt(i)) {
          same = false;
          break;
        }
      }
      if (same) return last.text;
    }
    // A decoded frame's prev is 32 bytes (protocol/frame); any other length is written as it is.
    if (prev.length !== HASH_BYTES) return `0x${Buffer.from(prev).toString('hex')}`;
    return bytesText(prev);
  }

  /** SHA-256 of a frame of `dev` (its COSE_Sign1 bytes) as text, kept as `dev`'s last frame hash. */
  frameHash(dev: string, bytes: Uint8Array): Hex {
    const digest = hash('sha256', bytes, 'binary');
    const text = digestText(digest);
    const last = this.#last.get(dev);
    if (last === undefined) this.#last.set(dev, { digest, text });
    else {
      last.digest = digest;
      last.text = text;
    }
    return text;
  }
}
