/**
 * Signed checkpoints (PROTOCOL.md §3, C2SP signed-note + tlog-checkpoint): the known-answer
 * vector of Go's golang.org/x/mod/sumdb/note (note_test.go TestSignerVerifier / example_test.go:
 * key "PeterNeumann", its seed and the expected signed note), round trips, and tampering.
 *
 * Reproduce the vector with Go:
 *   signer, _ := note.NewSigner("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
 *   note.Sign(&note.Note{Text: text}, signer)
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  ed25519KeyId,
  ed25519PrivateKeyFromSeed,
  formatCheckpoint,
  formatVkey,
  NoteError,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseNote,
  parseVkey,
  rawEd25519PublicKey,
  signNote,
} from '../../anchor/src/log/note.js';
import { fcRuns } from '../helpers/fc-runs.js';

const SKEY_B64 = 'AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'; // 0x01 || Ed25519 seed
const VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const SIGNED = `${TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

const peter = ed25519PrivateKeyFromSeed(new Uint8Array(Buffer.from(SKEY_B64, 'base64').subarray(1)));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(NoteError);
    return (err as NoteError).code;
  }
  return undefined;
}

describe('C2SP signed note', () => {
  test('behavior: the Go sumdb/note known answer: key ID, vkey and signed note', () => {
    expect(Buffer.from(ed25519KeyId('PeterNeumann', rawEd25519PublicKey(peter))).toString('hex')).toBe(
      'c74f20a3',
    );
    expect(formatVkey('PeterNeumann', peter)).toBe(VKEY);
    expect(signNote(TEXT, 'PeterNeumann', peter)).toBe(SIGNED);
    expect(openNote(SIGNED, VKEY)).toBe(TEXT);
  });

  test('behavior: signatures of other keys are ignored; one good signature of ours suffices', () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    const foreign = signNote(TEXT, 'someone-else', other).slice(TEXT.length + 1);
    expect(openNote(SIGNED + foreign, VKEY)).toBe(TEXT);
    expect(openNote(`${TEXT}\n${foreign}${SIGNED.slice(TEXT.length + 1)}`, VKEY)).toBe(TEXT);
    expect(parseNote(SIGNED + foreign).signatures.map((s) => s.name)).toEqual([
      'PeterNeumann',
      'someone-else',
    ]);
  });

  test('error: a changed text, signature, key name or key is unverified_note', () => {
    expect(codeOf(() => openNote(SIGNED.replace('cryptography', 'cryptographY'), VKEY))).toBe(
      'unverified_note',
    );
    const sigAt = SIGNED.indexOf('x08go');
    const flipped = `${SIGNED.slice(0, sigAt + 10)}${SIGNED[sigAt + 10] === 'A' ? 'B' : 'A'}${SIGNED.slice(sigAt + 11)}`;
    expect(codeOf(() => openNote(flipped, VKEY))).toBe('unverified_note');
    const other = generateKeyPairSync('ed25519').privateKey;
    expect(codeOf(() => openNote(SIGNED, formatVkey('PeterNeumann', other)))).toBe('unverified_note');
    // the same key under another name has another key ID: not a signature of that vkey
    expect(codeOf(() => openNote(signNote(TEXT, 'Peter', peter), VKEY))).toBe('unverified_note');
  });

  test('error: malformed notes are malformed_note, never a SyntaxError', () => {
    for (const bad of [
      TEXT, // no signature block
      SIGNED.slice(0, -1), // no final newline
      SIGNED.replace('—', '-'), // hyphen instead of em dash
      SIGNED.replace('x08go/', 'x08go!'), // not base64
      SIGNED.replace('PeterNeumann x08go', 'PeterNeumann  x08go'), // not strict base64
      `${TEXT}\n— PeterNeumann AAAA\n`, // shorter than key ID + 1
      `a\u0007b\n\n${SIGNED.slice(TEXT.length + 1)}`, // control character in the text
      `${TEXT}\n\n`, // empty signature line
    ]) {
      expect(codeOf(() => openNote(bad, VKEY))).toBe('malformed_note');
    }
  });

  test('error: a vkey with a wrong key ID, algorithm or shape is bad_vkey', () => {
    for (const bad of [
      VKEY.replace('c74f20a3', 'c74f20a4'),
      VKEY.replace('+ARpc', '+AhpC'),
      'PeterNeumann+c74f20a3',
      `${VKEY}+x`, // base64 may hold '+', but this one is not base64 of 33 bytes
      'Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
    ]) {
      expect(codeOf(() => parseVkey(bad))).toBe('bad_vkey');
    }
  });

  test('error: signing refuses a text without final newline, with a blank line, or a non-Ed25519 key', () => {
    expect(() => signNote('no newline', 'n', peter)).toThrow(TypeError);
    expect(() => signNote('a\n\nb\n', 'n', peter)).toThrow(TypeError);
    expect(() => signNote(TEXT, 'has space', peter)).toThrow(TypeError);
    expect(() => signNote(TEXT, 'n', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)).toThrow(
      TypeError,
    );
  });
});

describe('signed tlog-checkpoint', () => {
  const key = generateKeyPairSync('ed25519').privateKey;
  const origin = 'vitaltrail/gw-1';
  const vkey = formatVkey(origin, key);

  test('behavior: any size and root round-trip through sign and open', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (treeSize, rootHash) => {
          const text = formatCheckpoint({ origin, treeSize, rootHash });
          const c = openCheckpoint(signNote(text, origin, key), vkey);
          expect(c.treeSize).toBe(treeSize);
          expect(Buffer.from(c.rootHash).equals(Buffer.from(rootHash))).toBe(true);
          expect(c.origin).toBe(origin);
        },
      ),
      { numRuns: fcRuns(200) },
    );
  });

  test('behavior: the body is exactly the three lines of PROTOCOL.md §3', () => {
    const root = new Uint8Array(32).fill(0xab);
    expect(formatCheckpoint({ origin, treeSize: 1024, rootHash: root })).toBe(
      `vitaltrail/gw-1\n1024\n${Buffer.from(root).toString('base64')}\n`,
    );
  });

  test('error: a changed size or root is unverified; a bad size, root or origin is malformed', () => {
    const root = new Uint8Array(32).fill(1);
    const note = signNote(formatCheckpoint({ origin, treeSize: 10, rootHash: root }), origin, key);
    expect(codeOf(() => openCheckpoint(note.replace('\n10\n', '\n11\n'), vkey))).toBe('unverified_note');
    for (const bad of ['o\n010\nAAAA\n', 'o\n-1\nAAAA\n', 'o\n1\nAAAA\n', 'o\n1\n', '\n1\nAAAA\n']) {
      expect(codeOf(() => parseCheckpoint(bad))).toBe('malformed_note');
    }
    // signed by the right key but for another origin
    const otherOrigin = signNote(
      formatCheckpoint({ origin: 'vitaltrail/gw-2', treeSize: 10, rootHash: root }),
      origin,
      key,
    );
    expect(codeOf(() => openCheckpoint(otherOrigin, vkey))).toBe('malformed_note');
  });
});
