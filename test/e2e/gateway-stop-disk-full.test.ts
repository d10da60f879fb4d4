/**
 * @module test/e2e/gateway-stop-disk-full
 * `vitaltrail gateway` (its flag form) stopped on a full disk, on a real 16 MiB tmpfs filled
 * with a file once the gateway is up: the audit events still buffered at the stop
 * (`gateway_stopped` among them) cannot be written, and the stop says so, exit 2
 * (`audit_write_failed`), as `gateway --config` does for any step that fails to stop. It
 * used to exit 0, after holding its event loop 5 s on an audit lock left empty by the
 * failed write. Once space is freed the audit log still verifies: the chain is intact, it
 * just ends before the lost events.
 * Needs `npm run build` first (npm test does it), and root or passwordless sudo to mount.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANY_PORTS, exitOf, runCli, spawnGateway } from '../helpers/cli.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { fillFileSystem, tmpfsForTests } from '../helpers/tmpfs.js';

const mnt = tmpfsForTests('vt-stop-full-', '16m');

describe('a gateway stopped on a full disk', () => {
  it('behavior: exits 2 naming audit_write_failed and how many events were lost; the audit log verifies once space is freed', async () => {
    const paths = await prepareDataDir(join(mnt, 'data'), ['wr-0001']);
    const g = spawnGateway(['--data', paths.root, ...ANY_PORTS]);
    let stderr = '';
    g.child.stderr?.on('data', (d) => {
      stderr += d;
    });
    try {
      await g.ready;
      const filler = fillFileSystem(mnt);
      g.child.kill('SIGTERM');
      expect(await exitOf(g.child)).toBe(2);
      expect(stderr).toMatch(/^error: audit_write_failed: \d+ audit events? could not be written \(ENOSPC/m);
      rmSync(filler);
    } finally {
      g.child.kill('SIGKILL');
    }
    const verify = await runCli(['audit', 'verify', '--data', paths.root, '--json']);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
  });
});
