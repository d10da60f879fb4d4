/**
 * @module test/unit/device-registry
 * The gateway's in-memory view of enrolled devices (gateway/src/io/identity/devices.ts) over a real
 * store and a real KGC on files: `refresh` reads only the rows written since the last one,
 * a revocation is reported once, and a device revoked, re-enrolled and revoked again is
 * reported again (its open sessions must be closed the second time too). On a gateway that
 * anchors on a chain (issue 17), a device is `registered` only with the key the store
 * recorded registered on that chain's registry: a re-enrolment's new key is not, until it is.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readKgcTrust } from '../../anchor/src/kgc/index.js';
import { DeviceRegistry } from '../../gateway/src/io/identity/devices.js';
import { enrolDevice, revokeEnrolledDevice } from '../../gateway/src/io/identity/enrol.js';
import { recordRegistration } from '../../gateway/src/io/identity/registration.js';
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

  it('behavior: on an anchoring gateway only the key recorded registered on its chain is registered', async () => {
    const paths = await prepareDataDir(join(tmp.dir, 'anchoring'), ['wr-0001', 'wr-0002']);
    const store = openStore(paths.db);
    const chain = { chainId: 31337, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' };
    try {
      const devices = new DeviceRegistry(store, readKgcTrust(paths.kgcDir), { registration: chain });
      const plain = new DeviceRegistry(store, readKgcTrust(paths.kgcDir));
      devices.refresh();
      expect(devices.lookup('wr-0001')?.registered).toBe(false);
      expect(plain.lookup('wr-0001')?.registered).toBeUndefined(); // anchors nowhere: no such rule

      const spki = (dev: string) => store.getDevice(dev)!.spkiSha256;
      recordRegistration(store, chain, 'wr-0001', spki('wr-0001').toUpperCase().replace('0X', '0x'));
      expect(devices.lookup('wr-0001')?.registered).toBe(true); // seen at the next lookup
      // Another chain's registry, or another device's key, does not count.
      recordRegistration(store, { ...chain, chainId: 1 }, 'wr-0002', spki('wr-0002'));
      recordRegistration(store, chain, 'wr-0002', spki('wr-0001'));
      expect(devices.lookup('wr-0002')?.registered).toBe(false);
      devices.noteRegistered('wr-0002', spki('wr-0002')); // a DeviceRegistered event
      expect(devices.lookup('wr-0002')?.registered).toBe(true);

      await enrolDevice(paths, store, 'wr-0001'); // a new key, not registered yet
      await new Promise((r) => setTimeout(r, 5));
      devices.refresh();
      expect(devices.lookup('wr-0001')?.registered).toBe(false);
      const fresh = new DeviceRegistry(store, readKgcTrust(paths.kgcDir), { registration: chain });
      expect(fresh.lookup('wr-0002')?.registered).toBe(true); // recorded: survives a restart
      expect(fresh.lookup('wr-0001')?.registered).toBe(false);
    } finally {
      store.close();
    }
  });
});
