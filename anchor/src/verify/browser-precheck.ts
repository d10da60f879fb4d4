/**
 * @module verify/browser-precheck
 * WebCrypto for the auditor page's ES256 frame signatures (issue 6 "an auditor page":
 * "WebCrypto for P-256; the @noble libraries where WebCrypto lacks"), keeping one set of
 * rules: the verifier (`verify.ts`) stays synchronous and unchanged; before it runs,
 * `precheckEs256` checks every ES256 frame signature of the bundle with
 * `crypto.subtle.verify({name: 'ECDSA', hash: 'SHA-256'}, key, r||s, Sig_structure)`
 * against the key of every certificate the bundle carries for the frame's device, and
 * records each verdict in `browser-crypto.ts`, which answers the verifier's ES256 checks
 * from them when (SPKI DER, signed bytes, signature bytes) match exactly, and asks
 * @noble/curves for anything else. So whatever this module overlooks or misreads costs
 * time, never a different verdict.
 *
 * Same verdicts as @noble (and OpenSSL, the CLI's): a key is imported only when @noble
 * also reads its point (else @noble's answer is "false" whatever the signature); r or s
 * out of [1, n) fails in all three; ECDSA verification has one answer otherwise, except
 * for high-S signatures (s > n/2), which OpenSSL and @noble with `lowS: false` accept. A
 * self-test (`probeWebCrypto`) checks, per browser, that WebCrypto accepts a valid high-S
 * signature too; where it does not, high-S signatures are left to @noble. Where the
 * self-test fails or `crypto.subtle` is absent (a page not in a secure context),
 * nothing is prechecked and @noble checks every signature.
 *
 * Not prechecked (left to @noble): Ed25519 frames (WebCrypto's Ed25519 is missing in some
 * browsers and not strict RFC 8032 in others), certificate signatures (few: the verifier
 * caches chain checks per certificate) and ES256 frames whose key does not import.
 *
 * Trust: the bundle is attacker-controlled; a frame that does not decode, or a
 * certificate that does not parse or import, is skipped (the verifier reports it).
 */
import { p256 } from '@noble/curves/p256';
import { sha256 } from '@noble/hashes/sha2';
import { COSE_ALG_ES256, decodeFrame, sigStructure } from '../../../gateway/src/protocol/frame.js';
import { parseCertificatePem } from '../kgc/chain.js';
import { KeyObject, recordPrecheckedEs256 } from './browser-crypto.js';
import type { DisclosureBundle } from './bundle.js';

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const P256_N = p256.CURVE.n;
/** Entries decoded per window; their checks are in flight together (WebCrypto runs them off-thread). */
const WINDOW = 256;

/** What `probeWebCrypto` found. */
export interface WebCryptoProbe {
  /** WebCrypto verifies a valid ES256 signature and refuses a tampered one. */
  ok: boolean;
  /** WebCrypto also accepts a valid high-S signature (as OpenSSL and @noble do). */
  highS: boolean;
}

/** What `precheckEs256` did. */
export interface PrecheckReport {
  /** Whether WebCrypto was used at all. */
  webcrypto: boolean;
  /** Why not, when it was not. */
  note?: string;
  /** Whether high-S signatures went to WebCrypto (else to @noble). */
  highS: boolean;
  /** Certificate keys imported into WebCrypto. */
  keys: number;
  /** WebCrypto verifications done (a frame per candidate certificate key). */
  checked: number;
  /** ES256 frames left to @noble because their signature is high-S and WebCrypto refuses those. */
  highSLeft: number;
  /** Wall time of the precheck, ms. */
  ms: number;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
/** WebCrypto's BufferSource type excludes views of a SharedArrayBuffer; these never are. */
const source = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;

/** s > n/2 for a 64-byte r||s signature. */
function isHighS(signature: Uint8Array): boolean {
  let s = 0n;
  for (let i = 32; i < 64; i++) s = (s << 8n) | BigInt(signature[i]!);
  return s > P256_N >> 1n;
}

/**
 * Checks WebCrypto's ECDSA P-256 against a signature made here with @noble (a fixed key
 * and message; RFC 6979, low-S), its high-S twin (r, n - s) and a tampered copy.
 * @example
 * const { ok, highS } = await probeWebCrypto(crypto.subtle);
 */
export async function probeWebCrypto(subtle: SubtleCrypto): Promise<WebCryptoProbe> {
  try {
    const secret = sha256(utf8('vitaltrail auditor page: WebCrypto self-test key'));
    const message = utf8('vitaltrail auditor page: WebCrypto self-test message');
    const sig = p256.sign(sha256(message), secret, { lowS: true });
    const low = sig.toCompactRawBytes();
    const high = new p256.Signature(sig.r, P256_N - sig.s).toCompactRawBytes();
    const tampered = low.slice();
    tampered[40]! ^= 1;
    const point = source(p256.getPublicKey(secret, false));
    const key = await subtle.importKey('raw', point, ECDSA_P256, false, ['verify']);
    const [a, b, c] = await Promise.all(
      [low, high, tampered].map((s) => subtle.verify(ECDSA_SHA256, key, source(s), source(message))),
    );
    return { ok: a === true && c === false, highS: a === true && b === true && c === false };
  } catch {
    return { ok: false, highS: false };
  }
}

interface ImportedKey {
  spki: Uint8Array;
  key: CryptoKey;
}

/** The WebCrypto key of a device certificate, or undefined when @noble decides its checks. */
async function importCertificateKey(subtle: SubtleCrypto, pem: string): Promise<ImportedKey | undefined> {
  // The verifier's own parser: in the page, node:crypto is browser-crypto.ts.
  const publicKey: unknown = parseCertificatePem(pem)?.publicKey;
  if (!(publicKey instanceof KeyObject) || !publicKey.isNobleP256()) return undefined;
  const spki = publicKey.spkiDer;
  try {
    return { spki, key: await subtle.importKey('spki', spki.slice(), ECDSA_P256, false, ['verify']) };
  } catch {
    return undefined;
  }
}

/**
 * Checks every ES256 frame signature of `bundle` with WebCrypto, as described in the
 * module doc, and records the verdicts for `browser-crypto.ts`'s `verify`.
 * @param subtle - `crypto.subtle`; undefined (not a secure context) = nothing prechecked.
 * @param onProgress - after each window of entries: (entries done, total).
 * @example
 * await precheckEs256(bundle, globalThis.crypto?.subtle);
 * const report = verifyBundle(bundle, anchors); // ES256 answers come from WebCrypto
 */
export async function precheckEs256(
  bundle: DisclosureBundle,
  subtle: SubtleCrypto | undefined,
  onProgress?: (done: number, total: number) => void,
): Promise<PrecheckReport> {
  const started = performance.now();
  const report: PrecheckReport = { webcrypto: false, highS: false, keys: 0, checked: 0, highSLeft: 0, ms: 0 };
  const done = () => {
    report.ms = Math.round(performance.now() - started);
    return report;
  };
  if (subtle === undefined) {
    report.note = 'WebCrypto is not available here (the page is not in a secure context)';
    return done();
  }
  const probe = await probeWebCrypto(subtle);
  if (!probe.ok) {
    report.note = "WebCrypto's ECDSA P-256 failed its self-test";
    return done();
  }
  report.webcrypto = true;
  report.highS = probe.highS;

  // One import per certificate; a device may have several (re-enrolment).
  const byDev = new Map<string, ImportedKey[]>();
  const imported = await Promise.all(bundle.devices.map((d) => importCertificateKey(subtle, d.cert)));
  for (const [i, d] of bundle.devices.entries()) {
    const k = imported[i];
    if (!k) continue;
    report.keys++;
    const list = byDev.get(d.dev);
    if (list) list.push(k);
    else byDev.set(d.dev, [k]);
  }

  const total = bundle.entries.length;
  // Two windows in flight: the next one is decoded while WebCrypto checks the last.
  let previous: { checks: Promise<unknown>; done: number } | undefined;
  for (let at = 0; at < total; at += WINDOW) {
    const checks: Promise<void>[] = [];
    for (const entry of bundle.entries.slice(at, at + WINDOW)) {
      if (entry.shredded === true || typeof entry.frame !== 'string') continue;
      let frame: ReturnType<typeof decodeFrame>;
      try {
        frame = decodeFrame(new Uint8Array(Buffer.from(entry.frame, 'base64')));
      } catch {
        continue; // the verifier reports it malformed
      }
      // The verifier checks signatures only of frames whose kid is their body's dev.
      if (frame.alg !== COSE_ALG_ES256 || frame.kid !== frame.body.dev) continue;
      const keys = byDev.get(frame.kid);
      if (!keys) continue;
      if (!probe.highS && isHighS(frame.signature)) {
        report.highSLeft++;
        continue;
      }
      const data = sigStructure(frame.protectedBytes, frame.payload);
      const signature = frame.signature;
      for (const k of keys) {
        report.checked++;
        checks.push(
          subtle.verify(ECDSA_SHA256, k.key, source(signature), source(data)).then(
            (ok) => recordPrecheckedEs256(k.spki, data, signature, ok === true),
            () => undefined, // not recorded: @noble decides
          ),
        );
      }
    }
    if (previous) {
      await previous.checks;
      onProgress?.(previous.done, total);
    }
    previous = { checks: Promise.all(checks), done: Math.min(at + WINDOW, total) };
  }
  if (previous) {
    await previous.checks;
    onProgress?.(previous.done, total);
  }
  return done();
}
