/**
 * @module core/sealed-aad
 * The additional authenticated data of the sealed store (io/store/sealed): each sealed
 * thing is bound to its place, so a ciphertext moved to another row, device, window or
 * leaf does not open. Pure; the texts are part of the stored format (never change one).
 */

const UTF8 = new TextEncoder();

/**
 * The AAD of one sealed frame, its place in the store and its key: the COSE external AAD
 * of a COSE_Encrypt0 (schema 11 on), the JWE AAD of a row of format 2.
 */
export function frameAad(dev: string, seq: number, leafIndex: number, keyId: number): Uint8Array {
  // Once per frame sealed or opened (86,400 for a day's raw readings): a slice of Node's
  // buffer pool, where `TextEncoder.encode` allocates a backing store of its own each time.
  return Buffer.from(`vitaltrail-frame/2:${dev}:${seq}:${leafIndex}:${keyId}`, 'utf8');
}

/** AAD binding a skeleton batch envelope to its batch id and first leaf index (format 1). */
export function batchAad(batchId: number, firstLeaf: number): Uint8Array {
  return UTF8.encode(`vitaltrail-batch/1:${batchId}:${firstLeaf}`);
}

/** AAD of a key envelope: binds it to its row, device and window. */
export function dataKeyAad(id: number, dev: string, windowStart: number): Uint8Array {
  return UTF8.encode(`vitaltrail-data-key/1:${id}:${dev}:${windowStart}`);
}
