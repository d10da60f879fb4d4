/**
 * @module io/verify/verify-keys
 * The names under which the verify pool's threads cache device public keys: (device,
 * SHA-256 of the SPKI, the certificate's key fingerprint), so a key is imported once per
 * thread, not once per frame, and a new certificate (another key) is a new entry.
 */
import { createHash, type KeyObject } from 'node:crypto';

/** Keys a worker keeps before its cache is emptied (and refilled as frames come). */
export const MAX_CACHED_KEYS = 10_000;

export interface KeyRef {
  /** Device and key fingerprint: what a worker caches the imported key under. */
  id: string;
  /** SPKI DER of the key, sent to a worker the first time it needs it. */
  der: Uint8Array;
}

/** Each key's cache entry, computed once per KeyObject. */
export class KeyRefs {
  readonly #refs = new WeakMap<KeyObject, KeyRef | null>();
  /** The last key seen per device: a device record reloaded with the same key keeps its entry. */
  readonly #lastByDev = new Map<string, { key: KeyObject; ref: KeyRef }>();

  /**
   * The key's entry (the device registry makes a new KeyObject when it reloads a device; the
   * same key as before keeps its entry); null if it cannot be exported (then the frame is
   * checked in the event loop).
   */
  of(key: KeyObject, dev: string): KeyRef | null {
    let ref = this.#refs.get(key);
    if (ref !== undefined) return ref;
    const last = this.#lastByDev.get(dev);
    if (last?.key.equals(key)) ref = last.ref;
    else {
      try {
        const der = new Uint8Array(key.export({ format: 'der', type: 'spki' }));
        const fp = createHash('sha256').update(der).digest('base64url');
        ref = { id: `${dev}\u0000${fp}`, der };
      } catch {
        ref = null;
      }
    }
    this.#refs.set(key, ref);
    if (ref) {
      if (this.#lastByDev.size >= MAX_CACHED_KEYS && !this.#lastByDev.has(dev)) this.#lastByDev.clear();
      this.#lastByDev.set(dev, { key, ref });
    }
    return ref;
  }
}

/**
 * The keys a batch names (`keyIds`, each frame's by `keyIndex`) and those of them a worker
 * that was sent `sent` still needs (`fresh`). `reset`: its cache would pass
 * `MAX_CACHED_KEYS`, so it is emptied and sent this batch's keys alone.
 */
export function keysForBatch(
  sent: ReadonlySet<string>,
  jobs: readonly { ref: KeyRef }[],
): { keyIndex: Map<string, number>; keyIds: string[]; fresh: KeyRef[]; reset: boolean } {
  const keyIndex = new Map<string, number>();
  const keyIds: string[] = [];
  const fresh: KeyRef[] = [];
  const named: KeyRef[] = [];
  for (const { ref } of jobs) {
    if (keyIndex.has(ref.id)) continue;
    keyIndex.set(ref.id, keyIds.length);
    keyIds.push(ref.id);
    named.push(ref);
    if (!sent.has(ref.id)) fresh.push(ref);
  }
  const reset = sent.size + fresh.length > MAX_CACHED_KEYS;
  return { keyIndex, keyIds, fresh: reset ? named : fresh, reset };
}
