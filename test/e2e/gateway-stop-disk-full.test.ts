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
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { ANY_PORTS, exitOf, runCli, spawnGateway } from '../helpers/cli.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { fillFileSystem, tmpfsForTests } from '../helpers/tmpfs.js';
import { until } from '../helpers/wait.js';

const mnt = tmpfsForTests('vt-stop-full-', '16m');

describe('a gateway stopped on a full disk', () => {
  it('behavior: a full disk is told once in the log and once when over; stopped on one, it exits 2 naming audit_write_failed and how many events were lost; the audit log verifies once space is freed', async () => {
    const paths = await prepareDataDir(join(mnt, 'data'), ['wr-0001']);
    const g = spawnGateway(['--data', paths.root, ...ANY_PORTS]);
    let stderr = '';
    g.child.stderr?.on('data', (d) => {
      stderr += d;
    });
    try {
      const { mqtt: url } = await g.ready;
      // While the disk is full, rejected frames keep adding audit events, each batch retried
      // every second and failing: the log tells it once, and once when it is over.
      const device = await mqtt.connectAsync(url as string, {
        clientId: 'wr-0001',
        reconnectPeriod: 0,
        protocolVersion: 4,
      });
      let filler = fillFileSystem(mnt);
      for (let i = 0; i < 12; i++) {
        device.publish('vt/v1/dev/wr-0001/frames', Buffer.from('not a frame'), { qos: 0 });
        await new Promise((r) => setTimeout(r, 250));
      }
      rmSync(filler);
      await until(() => stderr.includes('audit log writable again'), 15_000, 'the end told').catch(
        () => undefined,
      );
      expect(stderr).toContain('audit log writable again'); // the next retry, a second on
      const lines = stderr
        .split('\n')
        .filter((l) => l.includes('"level":"error"') && l.includes('audit write failed'));
      expect(lines, stderr).toHaveLength(1);
      expect(lines[0]).toContain('"code":"ENOSPC"');
      expect(stderr.split('audit log writable again')).toHaveLength(2);

      await device.endAsync(true);
      filler = fillFileSystem(mnt);
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
