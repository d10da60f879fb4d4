/**
 * @module test/unit/device-registry
 * The gateway's in-memory view of enrolled devices (gateway/src/io/identity/devices.ts) over a real
 * store and a real KGC on files: `refresh` reads only the rows written since the last one,
 * a revocation is reported once, and a device revoked, re-enrolled and revoked again is
 * reported again (its open sessions must be closed the second time too).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readKgcTrust } from '../../anchor/src/kgc/index.js';
import { DeviceRegistry } from '../../gateway/src/io/identity/devices.js';
import { enrolDevice, revokeEnrolledDevice } from '../../gateway/src/io/identity/enrol.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('DeviceRegistry', () => {
  const tmp = makeTempDir('vt-devreg-');
  afterAll(() => tmp.cleanup());

  it('behavior: revoked, re-enrolled and revoked again: reported each time; refresh sees new rows only', async () => {
    const paths = await prepareDataDir(join(tmp.dir, 'data'), ['wr-0001', 'wr-0002']);
    const store = openStore(paths.db);
    try {
      const reported: string[] = [];
      const devices = new DeviceRegistry(store, readKgcTrust(paths.kgcDir), {
        onRevoked: (dev, source) => reported.push(`${dev}:${source}`),
      });
      devices.refresh();
      expect(devices.lookup('wr-0001')?.status).toBe('active');

      await revokeEnrolledDevice(paths, store, 'wr-0001');
      await new Promise((r) => setTimeout(r, 5));
      devices.refresh();
      devices.refresh(); // nothing new: not reported twice
      expect(reported).toEqual(['wr-0001:store']);
      expect(devices.lookup('wr-0001')?.status).toBe('revoked');

      await enrolDevice(paths, store, 'wr-0001'); // a new key
      devices.refresh();
      expect(devices.lookup('wr-0001')?.status).toBe('active');

      await revokeEnrolledDevice(paths, store, 'wr-0001');
      devices.refresh();
      expect(reported).toEqual(['wr-0001:store', 'wr-0001:store']);
      expect(devices.lookup('wr-0002')?.status).toBe('active');
    } finally {
      store.close();
    }
  });
});
