/**
 * @module kgc/x509
 * Loading @peculiar/x509 (the certificate and CRL builder of the KGC, RFC 5280) bound to
 * node's WebCrypto, with the small Reflect metadata store its tsyringe dependency needs.
 * Every KGC file that issues or reads certificates with @peculiar/x509 loads it here.
 */
import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

type X509Module = typeof X509;
let x509Module: Promise<X509Module> | undefined;

/**
 * @peculiar/x509 2.x depends on tsyringe, which refuses to load unless the Reflect
 * metadata API exists ("tsyringe requires a reflect polyfill"). x509 only applies
 * `@injectable()` to classes without constructor parameters, so a small, correct
 * metadata store is enough and no `reflect-metadata` dependency is needed. A polyfill
 * loaded earlier is left in place. The functions are installed once, process-wide.
 */
function installReflectMetadata(): void {
  const reflect = Reflect as unknown as Record<string, unknown>;
  if (typeof reflect.getMetadata === 'function') return;
  const store = new WeakMap<object, Map<unknown, Map<unknown, unknown>>>();
  const table = (target: object, property: unknown, create: boolean): Map<unknown, unknown> | undefined => {
    let byProperty = store.get(target);
    if (!byProperty) {
      if (!create) return undefined;
      byProperty = new Map();
      store.set(target, byProperty);
    }
    let byKey = byProperty.get(property);
    if (!byKey && create) {
      byKey = new Map();
      byProperty.set(property, byKey);
    }
    return byKey;
  };
  const getOwnMetadata = (key: unknown, target: object, property?: unknown): unknown =>
    table(target, property, false)?.get(key);
  const api = {
    defineMetadata(key: unknown, value: unknown, target: object, property?: unknown): void {
      table(target, property, true)?.set(key, value);
    },
    getOwnMetadata,
    hasOwnMetadata: (key: unknown, target: object, property?: unknown): boolean =>
      table(target, property, false)?.has(key) ?? false,
    getMetadata(key: unknown, target: object, property?: unknown): unknown {
      for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t)) {
        const own = table(t, property, false);
        if (own?.has(key)) return own.get(key);
      }
      return undefined;
    },
    hasMetadata(key: unknown, target: object, property?: unknown): boolean {
      for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t)) {
        if (table(t, property, false)?.has(key)) return true;
      }
      return false;
    },
    metadata:
      (key: unknown, value: unknown) =>
      (target: object, property?: unknown): void =>
        api.defineMetadata(key, value, target, property),
  };
  for (const [name, fn] of Object.entries(api)) {
    Object.defineProperty(Reflect, name, {
      value: fn,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}

/**
 * Loads @peculiar/x509 once, bound to node's WebCrypto. Any module that uses
 * @peculiar/x509 should load it through here (a static import elsewhere that runs first
 * fails with tsyringe's "requires a reflect polyfill").
 */
export function loadX509(): Promise<X509Module> {
  x509Module ??= (async () => {
    installReflectMetadata();
    const mod = (await import('@peculiar/x509')) as X509Module;
    mod.cryptoProvider.set(webcrypto as unknown as Crypto);
    return mod;
  })();
  return x509Module;
}
