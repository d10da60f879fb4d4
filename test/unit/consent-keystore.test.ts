/**
 * @module test/unit/consent-keystore
 * A patient's key at rest (anchor/src/consent/keystore.ts; README "The patient portal and the
 * doctor's page"), on Node 20's WebCrypto (the browser's API): a created key seals and opens
 * again to the same account; the format is exactly the documented one (opened here again
 * independently with node:crypto's PBKDF2 and AES-256-GCM); a wrong passphrase, an altered
 * ciphertext, an altered address and hostile shapes are refused with their codes; a raw
 * private key from a wallet imports to its known address.
 */
import { createDecipheriv, pbkdf2Sync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import {
  ConsentKeyError,
  createKey,
  importKey,
  type Keystore,
  openKeystore,
  parseKeystore,
  sealKey,
} from '../../anchor/src/consent/keystore.js';

const PASS = 'correct horse battery staple';
/** anvil's well-known account 1 (test mnemonic), as a wallet would export it. */
const WALLET_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
const WALLET_ADDRESS = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

/** The code of the ConsentKeyError `p` rejects with (fails the test if it resolves). */
async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(ConsentKeyError);
    return (err as ConsentKeyError).code;
  }
  throw new Error('expected a ConsentKeyError');
}

/** Flips one bit of a base64 field's bytes. */
function flipBit(b64: string, byte: number): string {
  const bytes = Buffer.from(b64, 'base64');
  bytes[byte] = (bytes[byte] as number) ^ 0x01;
  return bytes.toString('base64');
}

describe('consent keystore (PBKDF2-SHA256 600000 + AES-256-GCM, WebCrypto)', () => {
  let created: { account: { address: Hex }; keystore: Keystore };

  it('behavior: a created key seals and opens again to the same account; the format is the documented one', async () => {
    created = await createKey(PASS);
    const k = created.keystore;
    expect(Object.keys(k).sort()).toEqual(['address', 'ciphertext', 'iterations', 'iv', 'kdf', 'salt', 'v']);
    expect([k.v, k.kdf, k.iterations, k.address]).toEqual([
      1,
      'PBKDF2-SHA256',
      600_000,
      created.account.address,
    ]);
    expect(Buffer.from(k.salt, 'base64').length).toBe(16);
    expect(Buffer.from(k.iv, 'base64').length).toBe(12);
    expect(Buffer.from(k.ciphertext, 'base64').length).toBe(48);
    expect(JSON.stringify(k).length).toBeLessThan(2048); // the gateway keeps at most 2 KB

    const opened = await openKeystore(JSON.parse(JSON.stringify(k)), PASS);
    expect(opened.account.address).toBe(created.account.address);

    // Independently: node:crypto's PBKDF2 and AES-256-GCM open it to the same key.
    const aes = pbkdf2Sync(PASS, Buffer.from(k.salt, 'base64'), 600_000, 32, 'sha256');
    const sealed = Buffer.from(k.ciphertext, 'base64');
    const d = createDecipheriv('aes-256-gcm', aes, Buffer.from(k.iv, 'base64'));
    d.setAuthTag(sealed.subarray(32));
    const raw = Buffer.concat([d.update(sealed.subarray(0, 32)), d.final()]);
    expect(`0x${raw.toString('hex')}`).toBe(opened.privateKey);
    expect(privateKeyToAccount(`0x${raw.toString('hex')}`).address).toBe(k.address);
  }, 30_000);

  it('behavior: two keys sealed under one passphrase have fresh salts and ivs', async () => {
    const a = await sealKey(WALLET_KEY, PASS);
    const b = await sealKey(WALLET_KEY, PASS);
    expect(a.salt).not.toBe(b.salt);
    expect(a.iv).not.toBe(b.iv);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  }, 30_000);

  it('error: a wrong passphrase is refused with wrong_passphrase, never a key', async () => {
    expect(await codeOf(openKeystore(created.keystore, `${PASS}!`))).toBe('wrong_passphrase');
    expect(await codeOf(openKeystore(created.keystore, ''))).toBe('wrong_passphrase');
  }, 30_000);

  it('error: an altered ciphertext, tag or iv is refused (AES-GCM), an altered address with keystore_mismatch', async () => {
    const k = created.keystore;
    expect(await codeOf(openKeystore({ ...k, ciphertext: flipBit(k.ciphertext, 3) }, PASS))).toBe(
      'wrong_passphrase',
    );
    expect(await codeOf(openKeystore({ ...k, ciphertext: flipBit(k.ciphertext, 40) }, PASS))).toBe(
      'wrong_passphrase',
    );
    expect(await codeOf(openKeystore({ ...k, iv: flipBit(k.iv, 0) }, PASS))).toBe('wrong_passphrase');
    expect(await codeOf(openKeystore({ ...k, salt: flipBit(k.salt, 0) }, PASS))).toBe('wrong_passphrase');
    expect(await codeOf(openKeystore({ ...k, address: WALLET_ADDRESS }, PASS))).toBe('keystore_mismatch');
  }, 60_000);

  it('hostile: keystores of the wrong shape are refused before any key derivation', async () => {
    const k = created.keystore;
    const bad: unknown[] = [
      null,
      'text',
      [k],
      { ...k, v: 2 },
      { ...k, kdf: 'scrypt' },
      { ...k, iterations: 1e12 }, // would keep the browser busy for hours
      { ...k, iterations: 1 },
      { ...k, salt: 'not base64!' },
      { ...k, salt: Buffer.alloc(8).toString('base64') },
      { ...k, iv: Buffer.alloc(16).toString('base64') },
      { ...k, ciphertext: Buffer.alloc(32).toString('base64') },
      { ...k, ciphertext: 'A'.repeat(100_000) },
      { ...k, address: '0x1234' },
      { ...k, address: undefined },
    ];
    for (const b of bad) {
      const started = performance.now();
      expect([b, await codeOf(openKeystore(b, PASS))]).toEqual([b, 'keystore_invalid']);
      expect(performance.now() - started).toBeLessThan(50);
      expect(await codeOf(() => parseKeystore(b))).toBe('keystore_invalid');
    }
  });

  it('behavior: a raw private key from a wallet imports to its address and opens again', async () => {
    for (const raw of [
      WALLET_KEY,
      WALLET_KEY.slice(2),
      `  ${WALLET_KEY.toUpperCase().replace('0X', '0x')} `,
    ]) {
      const { account, keystore } = await importKey(raw, PASS);
      expect([account.address, keystore.address]).toEqual([WALLET_ADDRESS, WALLET_ADDRESS]);
    }
    const { keystore } = await importKey(WALLET_KEY, PASS);
    expect((await openKeystore(keystore, PASS)).privateKey).toBe(WALLET_KEY);
  }, 60_000);

  it('hostile: keys that are not secp256k1 private keys and weak passphrases are refused with codes', async () => {
    for (const raw of ['', '0x12', `0x${'g'.repeat(64)}`, `0x${'0'.repeat(64)}`, `0x${'f'.repeat(64)}`, 42]) {
      expect(await codeOf(importKey(raw as string, PASS))).toBe('private_key_invalid');
    }
    expect(await codeOf(createKey('short pass'))).toBe('passphrase_weak');
    expect(await codeOf(createKey('x'.repeat(1025)))).toBe('passphrase_weak');
    expect(await codeOf(importKey(WALLET_KEY, 'eleven chrs'))).toBe('passphrase_weak');
  });

  it('behavior: the module is browser-safe (no node: imports, WebCrypto and viem only)', () => {
    for (const f of ['keystore.ts', 'browser.ts']) {
      const src = readFileSync(join(import.meta.dirname, '../../anchor/src/consent', f), 'utf8');
      expect([f, /from 'node:/.test(src)]).toEqual([f, false]);
    }
  });
});
