/**
 * @module anchor/log/note
 * Signed checkpoints (PROTOCOL.md §3): the C2SP tlog-checkpoint body
 * (https://c2sp.org/tlog-checkpoint) wrapped in a C2SP signed note
 * (https://c2sp.org/signed-note) with an Ed25519 key.
 *
 * ```
 * vitaltrail/gw-1              origin
 * 1024                         tree size, decimal
 * <base64 of the 32-byte root>
 *                              blank line
 * — vitaltrail/gw-1 <base64(keyID(4) || Ed25519 signature(64))>
 * ```
 *
 * Key ID (signed-note "Ed25519"): the first 4 bytes of SHA-256(name || 0x0A || 0x01 || pubkey).
 * Verifier key string (vkey): `<name>+<key ID, 8 hex digits>+<base64(0x01 || pubkey)>`.
 *
 * Pure: node:crypto only, no I/O. The verifier imports it; it imports nothing of the gateway
 * but the error base class. Notes are attacker-controlled input: every parse failure is a
 * coded `NoteError`, never a `SyntaxError`, and reasons never echo note content.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { type ErrorGroupCode, meaningsOf } from '../../../gateway/src/protocol/error-codes.js';
import { errorClass } from '../../../gateway/src/protocol/errors.js';

/** Every code a `NoteError` can carry (the registry's `note` group, with its meanings); never reused or renamed. */
export const NOTE_ERROR_CODES = meaningsOf('note');
export type NoteErrorCode = ErrorGroupCode<'note'>;

export class NoteError extends errorClass<'note'>('NoteError') {}

/** signed-note: the algorithm byte of Ed25519 keys. */
export const ED25519_ALG = 0x01;
/** signed-note: a signature line starts with U+2014 EM DASH and a space. */
const SIG_PREFIX = '\u2014 ';
/** signed-note: verifiers may refuse notes with more signatures than this (Go's sumdb/note: 100). */
const MAX_SIGNATURES = 100;
/** RFC 8410 PKCS#8 prefix of an Ed25519 private key (the 32-byte seed follows). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** RFC 8410 SubjectPublicKeyInfo prefix of an Ed25519 public key (32 bytes follow). */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const malformed = (reason: string) => new NoteError('malformed_note', reason);

/** signed-note: a key name is non-empty UTF-8 without Unicode spaces or '+'. */
function assertKeyName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || /[\s+]/u.test(name)) {
    throw new TypeError('name must be a non-empty key name without spaces or "+"');
  }
}

/** The raw 32-byte Ed25519 public key of `key` (a public or private KeyObject). */
export function rawEd25519PublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new TypeError('key must be an Ed25519 key');
  const der = pub.export({ type: 'spki', format: 'der' });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** An Ed25519 public KeyObject from its raw 32 bytes. */
export function ed25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) throw new TypeError('raw must be 32 bytes');
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** An Ed25519 private KeyObject from its 32-byte seed (RFC 8032 private key). */
export function ed25519PrivateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new TypeError('seed must be 32 bytes');
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/**
 * signed-note key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || pubkey)[0..4].
 * @throws {TypeError} on a bad name or key.
 * @example
 * ed25519KeyId('vitaltrail/gw-1', rawEd25519PublicKey(key)); // Uint8Array(4)
 */
export function ed25519KeyId(name: string, publicKey: Uint8Array): Uint8Array {
  assertKeyName(name);
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32)
    throw new TypeError('publicKey must be 32 bytes');
  const h = createHash('sha256')
    .update(Buffer.from(name, 'utf8'))
    .update(Uint8Array.of(0x0a, ED25519_ALG))
    .update(publicKey)
    .digest();
  return new Uint8Array(h.subarray(0, 4));
}

/** A parsed verifier key. */
export interface NoteVerifierKey {
  name: string;
  keyId: Uint8Array;
  publicKey: KeyObject;
}

/**
 * The C2SP vkey string of an Ed25519 key: `<name>+<keyID hex>+<base64(0x01 || pubkey)>`.
 * @throws {TypeError} on a bad name or a key that is not Ed25519.
 * @example
 * formatVkey('vitaltrail/gw-1', key); // 'vitaltrail/gw-1+1a2b3c4d+AT…'
 */
export function formatVkey(name: string, key: KeyObject): string {
  const raw = rawEd25519PublicKey(key);
  const id = Buffer.from(ed25519KeyId(name, raw)).toString('hex');
  return `${name}+${id}+${Buffer.concat([Uint8Array.of(ED25519_ALG), raw]).toString('base64')}`;
}

/**
 * Parses a C2SP vkey string; the key ID must match the name and key.
 * @throws {NoteError} `bad_vkey`.
 */
export function parseVkey(vkey: string): NoteVerifierKey {
  const bad = () => new NoteError('bad_vkey', NOTE_ERROR_CODES.bad_vkey);
  if (typeof vkey !== 'string') throw bad();
  // <name>+<hex>+<base64>: the name has no '+', but the base64 may.
  const m = /^([^+]+)\+([^+]+)\+(.+)$/s.exec(vkey);
  if (!m) throw bad();
  const [, name, idHex, b64] = m as unknown as [string, string, string, string];
  if (name.length === 0 || /\s/u.test(name) || !/^[0-9a-f]{8}$/.test(idHex)) throw bad();
  const keyBytes = strictBase64(b64);
  if (keyBytes?.length !== 33 || keyBytes[0] !== ED25519_ALG) throw bad();
  const raw = keyBytes.subarray(1);
  const keyId = ed25519KeyId(name, raw);
  if (Buffer.from(keyId).toString('hex') !== idHex) throw bad();
  return { name, keyId, publicKey: ed25519PublicKeyFromRaw(raw) };
}

/** Standard padded base64, decoded only if it re-encodes to exactly the same text. */
function strictBase64(s: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return undefined;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? new Uint8Array(b) : undefined;
}

/** One signature line of a note. */
export interface NoteSignature {
  name: string;
  keyId: Uint8Array;
  signature: Uint8Array;
}

/** A note split into its text and signature lines (nothing verified). */
export interface ParsedNote {
  /** The signed text, ending in '\n'. */
  text: string;
  signatures: NoteSignature[];
}

/** signed-note: text is UTF-8 without control characters other than '\n', and ends in '\n'. */
function textProblem(text: string): string | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the rule is about control characters
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(text)) return 'the note text has control characters';
  if (!text.endsWith('\n')) return 'the note text does not end in a newline';
  return undefined;
}

/** @throws {NoteError} `malformed_note` when `text` breaks the rule of `textProblem`. */
function checkText(text: string): void {
  const problem = textProblem(text);
  if (problem !== undefined) throw malformed(problem);
}

/**
 * Splits a signed note at its last blank line into text and signatures (signed-note §Format).
 * @throws {NoteError} `malformed_note` (attacker-controlled input).
 */
export function parseNote(note: string): ParsedNote {
  if (typeof note !== 'string') throw malformed('the note is not text');
  if (note.length > 1 << 20) throw malformed('the note is too large');
  if (note.includes('\uFFFD')) throw malformed('the note is not valid UTF-8');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('the note has no signature block');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  checkText(text);
  if (!block.endsWith('\n')) throw malformed('the signature block does not end in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw malformed('the note has too many signatures');
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX)) throw malformed('a signature line does not start with an em dash');
    const rest = line.slice(SIG_PREFIX.length);
    const sp = rest.indexOf(' ');
    if (sp <= 0) throw malformed('a signature line has no key name');
    const name = rest.slice(0, sp);
    if (/[\s+]/u.test(name)) throw malformed('a signature key name is not valid');
    const bytes = strictBase64(rest.slice(sp + 1));
    if (!bytes || bytes.length < 5)
      throw malformed('a signature is not valid base64 of key ID and signature');
    signatures.push({ name, keyId: bytes.subarray(0, 4), signature: bytes.subarray(4) });
  }
  return { text, signatures };
}

/**
 * Signs `text` as a C2SP signed note with an Ed25519 key named `name`.
 * @throws {TypeError} on a bad name, a key that is not a private Ed25519 key, or bad text.
 * @example
 * const note = signNote(formatCheckpoint({ origin, treeSize, rootHash }), origin, key);
 */
export function signNote(text: string, name: string, privateKey: KeyObject): string {
  assertKeyName(name);
  if (privateKey?.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('privateKey must be a private Ed25519 key');
  }
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  if (textProblem(text) !== undefined) {
    throw new TypeError('text must end in a newline and have no control characters but newlines');
  }
  if (text.includes('\n\n')) throw new TypeError('text must not contain a blank line');
  const keyId = ed25519KeyId(name, rawEd25519PublicKey(privateKey));
  const sig = sign(null, Buffer.from(text, 'utf8'), privateKey); // RFC 8032 Ed25519 over the text bytes
  return `${text}\n${SIG_PREFIX}${name} ${Buffer.concat([keyId, sig]).toString('base64')}\n`;
}

/**
 * Opens a signed note with one verifier key: returns the text when a signature of that key
 * (same name and key ID) verifies. Signatures of other keys are ignored (signed-note).
 * @throws {NoteError} `malformed_note`, `bad_vkey`, or `unverified_note`.
 * @example
 * const text = openNote(note, 'vitaltrail/gw-1+1a2b3c4d+AT…');
 */
export function openNote(note: string, vkey: string | NoteVerifierKey): string {
  const key = typeof vkey === 'string' ? parseVkey(vkey) : vkey;
  const parsed = parseNote(note);
  const data = Buffer.from(parsed.text, 'utf8');
  for (const s of parsed.signatures) {
    if (s.name !== key.name || !Buffer.from(s.keyId).equals(Buffer.from(key.keyId))) continue;
    if (s.signature.length === 64 && verify(null, data, key.publicKey, s.signature)) return parsed.text;
  }
  throw new NoteError('unverified_note', NOTE_ERROR_CODES.unverified_note);
}

/** The three mandatory lines of a tlog-checkpoint (PROTOCOL.md §3). */
export interface CheckpointBody {
  origin: string;
  treeSize: number;
  /** The RFC 9162 root hash, 32 bytes. */
  rootHash: Uint8Array;
}

/**
 * PROTOCOL.md §3: `<origin>\n<tree size>\n<base64 root>\n`.
 * @throws {TypeError|RangeError} on a bad origin, size or root.
 */
export function formatCheckpoint(c: CheckpointBody): string {
  assertKeyName(c.origin);
  if (!Number.isSafeInteger(c.treeSize) || c.treeSize < 0)
    throw new RangeError('treeSize must be a safe uint');
  if (!(c.rootHash instanceof Uint8Array) || c.rootHash.length !== 32)
    throw new TypeError('rootHash must be 32 bytes');
  return `${c.origin}\n${c.treeSize}\n${Buffer.from(c.rootHash).toString('base64')}\n`;
}

/**
 * Parses a checkpoint body (the text of a signed note). Extension lines after the root are
 * allowed by tlog-checkpoint and returned as they are.
 * @throws {NoteError} `malformed_note`.
 */
export function parseCheckpoint(text: string): CheckpointBody & { extensions: string[] } {
  if (typeof text !== 'string') throw malformed('the checkpoint is not text');
  checkText(text);
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed('a checkpoint has at least three lines');
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw malformed('the checkpoint origin is empty');
  // tlog-checkpoint: decimal, no leading zeros
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size)))
    throw malformed('the checkpoint tree size is not a decimal safe integer');
  const rootHash = strictBase64(root);
  if (rootHash?.length !== 32) throw malformed('the checkpoint root is not base64 of 32 bytes');
  if (extensions.some((l) => l.length === 0)) throw malformed('the checkpoint has an empty line');
  return { origin, treeSize: Number(size), rootHash, extensions };
}

/**
 * Opens a signed checkpoint with the gateway's vkey and checks that its origin is the key
 * name (the signed-note key name of a log is its origin).
 * @throws {NoteError} `malformed_note`, `bad_vkey`, `unverified_note`.
 */
export function openCheckpoint(note: string, vkey: string | NoteVerifierKey): CheckpointBody {
  const key = typeof vkey === 'string' ? parseVkey(vkey) : vkey;
  const c = parseCheckpoint(openNote(note, key));
  if (c.origin !== key.name) throw malformed('the checkpoint origin is not the key name');
  return { origin: c.origin, treeSize: c.treeSize, rootHash: c.rootHash };
}
