/**
 * @module io/verify/verify-worker
 * The code of a verify-pool thread (io/verify/verify-pool; issue 14), as a fixed CommonJS
 * string run with `eval: true` (as io/identity/password-pool's), so the same code runs from
 * the TypeScript sources and from dist/ without a second entry file.
 *
 * One message is one batch: `keys` (SPKI DER, by id) to import and keep, `reset` to empty
 * that cache first, `keyIds` (the batch's keys by index), `meta` (Int32Array, per frame: key
 * index, COSE alg, Sig_structure length, signature length) and `data` (ArrayBuffer, per
 * frame its Sig_structure then its signature). The answer is one byte per frame: `VALID`,
 * 0 (invalid), or `NOT_CHECKED` (its key could not be imported; the pool checks it itself).
 * It makes exactly the node:crypto call `verifyFrameSignature` makes (protocol/frame, RFC
 * 9052 §4.4, ES256 signatures as IEEE P1363 r||s) on the same bytes; the pool applies the
 * same key check (`keyFitsAlg`) before. test/integration/verify-pool.test.ts holds both to
 * the same verdicts. A key-type mismatch is caught as false, as there.
 */
import { VERIFY_THREAD_NAME } from '../../core/thread-nice.js';
import {
  COSE_ALG_ES256,
  type DecodedFrame,
  sigStructureLength,
  writeSigStructureAt,
} from '../../protocol/frame.js';

/**
 * A batch's `meta` and `data`: per frame its Sig_structure (RFC 9052 §4.4) then its
 * signature in one buffer (transferred to the worker, not copied), and per frame in `meta`
 * the index of its key in the batch's `keyIds`, its COSE alg and the two lengths.
 */
export function packBatch(items: readonly { frame: DecodedFrame; key: number }[]): {
  meta: Int32Array<ArrayBuffer>;
  data: Uint8Array<ArrayBuffer>;
} {
  const meta = new Int32Array(items.length * 4);
  let total = 0;
  for (const { frame: f } of items)
    total += sigStructureLength(f.protectedBytes, f.payload) + f.signature.length;
  const data = new Uint8Array(total);
  let at = 0;
  items.forEach(({ frame: f, key }, i) => {
    const start = at;
    at = writeSigStructureAt(data, at, f.protectedBytes, f.payload);
    data.set(f.signature, at);
    meta[4 * i] = key;
    meta[4 * i + 1] = f.alg;
    meta[4 * i + 2] = at - start;
    meta[4 * i + 3] = f.signature.length;
    at += f.signature.length;
  });
  return { meta, data };
}

/** A worker's answer per frame. */
export const VALID = 1;
export const NOT_CHECKED = 2;

export const VERIFY_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
// core/thread-nice. Linux keeps a nice value per thread, and setpriority(PRIO_PROCESS, 0) sets the calling
// thread's alone (man 2 setpriority, NOTES); elsewhere it would renice the whole process.
// Relative to the value this thread was made with (its maker's): always allowed, as only
// a lower priority is asked. Named first, so \`top -H\` tells it apart.
if (process.platform === 'linux') {
  try { require('node:fs').writeFileSync('/proc/thread-self/comm', '${VERIFY_THREAD_NAME}'); } catch {}
  if (workerData && workerData.nice > 0) {
    try {
      const os = require('node:os');
      os.setPriority(0, Math.min(19, os.getPriority(0) + workerData.nice));
    } catch {}
  }
}
let keys = new Map();
parentPort.on('message', (m) => {
  if (m.reset) keys = new Map();
  for (const k of m.keys) {
    let key = null;
    try { key = createPublicKey({ key: Buffer.from(k.der), format: 'der', type: 'spki' }); } catch {}
    keys.set(k.id, key);
  }
  const byIndex = m.keyIds.map((id) => keys.get(id) || null);
  const meta = m.meta;
  const data = Buffer.from(m.data);
  const n = meta.length >> 2;
  const out = new Uint8Array(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const key = byIndex[meta[4 * i]];
    const alg = meta[4 * i + 1];
    const tbs = data.subarray(at, at + meta[4 * i + 2]);
    at += meta[4 * i + 2];
    const sig = data.subarray(at, at + meta[4 * i + 3]);
    at += meta[4 * i + 3];
    if (!key) { out[i] = ${NOT_CHECKED}; continue; }
    let ok = false;
    try {
      ok = alg === ${COSE_ALG_ES256}
        ? verify('sha256', tbs, { key, dsaEncoding: 'ieee-p1363' }, sig)
        : verify(null, tbs, key, sig);
    } catch {}
    out[i] = ok ? ${VALID} : 0;
  }
  parentPort.postMessage({ id: m.id, out }, [out.buffer]);
});
parentPort.postMessage({ ready: true });
`;
