/**
 * @module protocol/sig-structure
 * The COSE_Sign1 to-be-signed bytes of a device frame (PROTOCOL.md §1, RFC 9052 §4.4):
 * Sig_structure = ["Signature1", protected, h'', payload], written directly, into a new
 * array, a reused scratch buffer, or at an offset of a caller's buffer (the verify pool
 * packs a batch of them into one transferable buffer, io/verify/verify-worker). Pure.
 * protocol/frame re-exports what its importers use.
 */

/** 0x84 (array of 4), "Signature1" (text of 10), as RFC 9052 §4.4 lays out Sig_structure. */
const SIG_STRUCTURE_PREFIX = Uint8Array.of(0x84, 0x6a, ...new TextEncoder().encode('Signature1'));
/** external_aad: the empty byte string h''. */
const EMPTY_BSTR = Uint8Array.of(0x40);

/**
 * Sig_structure = ["Signature1", protected, h'', payload] (RFC 9052 §4.4), written
 * directly: it is a fixed layout of two byte strings, on the path of every frame, and a
 * generic encoder costs as much as the signature check itself. `test/unit/frame-codec.test.ts`
 * checks it byte for byte against cbor2's deterministic encoding.
 */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return writeSigStructure(protectedBytes, payload, null);
}

/** Reused by `sigStructureScratch`, whose caller hands it to a synchronous verify and lets go. */
let scratch = new Uint8Array(1024);

/** Length of the CBOR head of a byte string of `n` bytes. */
function bstrHeadLength(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** Writes the CBOR head of a byte string of `n` bytes at `at`; returns the next offset. */
function writeBstrHead(out: Uint8Array, at: number, n: number): number {
  if (n < 24) {
    out[at] = 0x40 | n;
    return at + 1;
  }
  if (n < 0x100) {
    out[at] = 0x58;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = 0x59;
    out[at + 1] = n >> 8;
    out[at + 2] = n & 0xff;
    return at + 3;
  }
  out[at] = 0x5a;
  out[at + 1] = (n >>> 24) & 0xff;
  out[at + 2] = (n >>> 16) & 0xff;
  out[at + 3] = (n >>> 8) & 0xff;
  out[at + 4] = n & 0xff;
  return at + 5;
}

/** Length in bytes of the Sig_structure over `protectedBytes` and `payload` (RFC 9052 §4.4). */
export function sigStructureLength(protectedBytes: Uint8Array, payload: Uint8Array): number {
  return (
    SIG_STRUCTURE_PREFIX.length +
    bstrHeadLength(protectedBytes.length) +
    protectedBytes.length +
    EMPTY_BSTR.length +
    bstrHeadLength(payload.length) +
    payload.length
  );
}

/**
 * Writes the Sig_structure at offset `at` of `out` (which must hold `sigStructureLength`
 * bytes from there), as the verify pool packs a batch (io/verify/verify-pool).
 * @returns the offset just after it
 */
export function writeSigStructureAt(
  out: Uint8Array,
  at: number,
  protectedBytes: Uint8Array,
  payload: Uint8Array,
): number {
  out.set(SIG_STRUCTURE_PREFIX, at);
  let i = writeBstrHead(out, at + SIG_STRUCTURE_PREFIX.length, protectedBytes.length);
  out.set(protectedBytes, i);
  i += protectedBytes.length;
  out[i++] = EMPTY_BSTR[0]!;
  i = writeBstrHead(out, i, payload.length);
  out.set(payload, i);
  return i + payload.length;
}

/**
 * The Sig_structure as a view of a buffer reused by the next call (`verifyFrameSignature`
 * hands it to a synchronous verify and lets go: the to-be-signed bytes need no buffer of
 * their own).
 */
export function sigStructureScratch(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return writeSigStructure(protectedBytes, payload, 'scratch');
}

/** Sig_structure into a new array, or (into = scratch) into the scratch buffer, as a view. */
function writeSigStructure(protectedBytes: Uint8Array, payload: Uint8Array, into: 'scratch' | null) {
  const length = sigStructureLength(protectedBytes, payload);
  if (into === 'scratch' && scratch.length < length) scratch = new Uint8Array(length);
  const out = into === 'scratch' ? scratch.subarray(0, length) : new Uint8Array(length);
  writeSigStructureAt(out, 0, protectedBytes, payload);
  return out;
}
