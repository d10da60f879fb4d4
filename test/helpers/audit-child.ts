/**
 * @module test/helpers/audit-child
 * A second process on an audit log (test/integration/audit-rotation.test.ts bundles it with
 * esbuild and runs it with node), doing what a CLI command does beside a running gateway:
 * - `append <dir> <tag> <count> <rotateBytes>`: appends `count` `login` events (`user` =
 *   tag, `seq` 1…count) through an `AuditLog`, one flush per event;
 * - `rotate <dir> <times>`: rotates `times` times (`vitaltrail audit rotate`), 2 ms apart;
 * - `crash <dir> <step>`: rotates and SIGKILLs itself right after `step` (the test-only
 *   hook): a real crash in the middle of a rotation, its lock file left behind.
 * Prints `done` when it finishes.
 */
import { AuditLog, rotateAuditLog } from '../../gateway/src/io/ops/audit.js';
import type { RotationStep } from '../../gateway/src/io/ops/audit-rotation.js';

const [mode, dir, a, b, c] = process.argv.slice(2);
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

if (mode === 'append' && dir && a && b && c) {
  const audit = new AuditLog(dir, { rotateBytes: Number(c) });
  for (let i = 1; i <= Number(b); i++) {
    audit.append('login', { user: a, seq: i });
    audit.flush();
  }
  audit.close();
} else if (mode === 'rotate' && dir && a) {
  for (let i = 0; i < Number(a); i++) {
    rotateAuditLog(dir);
    sleep(2);
  }
} else if (mode === 'crash' && dir && a) {
  rotateAuditLog(dir, {
    testOnlyAfterStep: (step: RotationStep) => {
      if (step === a) process.kill(process.pid, 'SIGKILL');
    },
  });
} else {
  process.stderr.write('usage: audit-child append|rotate|crash <dir> …\n');
  process.exit(2);
}
process.stdout.write('done\n');
