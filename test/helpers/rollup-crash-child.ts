/**
 * @module test/helpers/rollup-crash-child
 * The process test/integration/rollups.test.ts kills with SIGKILL: a real Ingest on the
 * store of `<dir>` (test/helpers/sealed) commits frames of three devices, one of them
 * sending every fifth frame ten minutes late (its old window is updated), with the gateway
 * clock crossing hour boundaries (new data keys), its rollups written behind every 20 ms, as
 * fast as it can, and prints the number
 * of acknowledged frames after each group of commits. It never stops by itself.
 * `node dist/test/helpers/rollup-crash-child.js <dir> <recipient public key PEM file>`
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sealedRig } from './sealed.js';

const [dir, pub] = process.argv.slice(2);
if (!dir || !pub) {
  process.stderr.write('usage: rollup-crash-child <dir> <recipient.pub.pem>\n');
  process.exit(2);
}
const T0 = Date.UTC(2026, 10, 21, 8, 0, 0);
let now = T0;
// Rollups written behind every 20 ms: the kill falls among commits and flushes.
const rig = sealedRig(dir, [{ kid: 'care', publicKey: createPublicKey(readFileSync(pub)) }], {
  now: () => now,
  rollupFlushMs: 20,
});
const devs = ['wr-k1', 'wr-k2', 'wr-k3'].map((d) => rig.device(d));
let acked = 0;
for (let i = 0; ; i++) {
  now = T0 + i * 60_000; // a new hour of gateway clock (a new data key) every 60 groups
  const batch = devs.flatMap((d, k) =>
    [0, 1, 2, 3].map((j) => {
      const late = k === 2 && (i * 4 + j) % 5 === 0 ? 600_000 : 0;
      return rig.ingest.submit(
        d.next({ ts: now + j * 1000 - late }, { hr: 50 + ((i + j + k) % 90), spo2: 90 + j }),
        d.dev,
      );
    }),
  );
  for (const r of await Promise.all(batch)) if (r.status === 'accepted') acked += 1;
  process.stdout.write(`${acked}\n`);
}
