/**
 * @module test/unit/device-registry
 * The gateway's in-memory view of enrolled devices (gateway/src/io/identity/devices.ts) over a real
 * store and a real KGC on files: `refresh` reads only the rows written since the last one,
 * a revocation is reported once, and a device revoked, re-enrolled and revoked again is
 * reported again (its open sessions must be closed the second time too). On a gateway that
 * anchors on a chain (issue 17), a device is `registered` only with the key the store
 * recorded registered on that chain's registry: a re-enrolment's new key is not, until it is.
 * A refresh in slices (what a running gateway does, the first at its start) reloads a known
 * device's status first, does not check an unchanged certificate again, and can be stopped
 * without losing a row; at the start, a revocation made before it is not news, one made
 * while it runs is. A revocation by the CRL alone marks the store row, so the next start does
 * not tell it again.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readKgcTrust } from '../../anchor/src/kgc/index.js';
import { DeviceRegistry, type RefreshSliceOptions } from '../../gateway/src/io/identity/devices.js';
import { enrolDevice, revokeEnrolledDevice } from '../../gateway/src/io/identity/enrol.js';
import { recordRegistration } from '../../gateway/src/io/identity/registration.js';
import { type GatewayStore, openStore } from '../../gateway/src/io/store/store.js';
import { prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('DeviceRegistry', () => {
  const tmp = makeTempDir('vt-devreg-');
  afterAll(() => tmp.cleanup());

  /** A registry over `store` (or what stands in for it) whose `reported` lists each revocation told. */
  const reporting = (store: GatewayStore, kgcDir: string) => {
    const reported: string[] = [];
    const devices = new DeviceRegistry(store, readKgcTrust(kgcDir), {
      onRevoked: (dev, source) => reported.push(`${dev}:${source}`),
    });
    return { devices, reported };
  };

  /** Two enrolled devices, refreshed once; `reported` lists each revocation told. */
  const reportingRegistry = async (dir: string) => {
    const paths = await prepareDataDir(join(tmp.dir, dir), ['wr-0001', 'wr-0002']);
    const store = openStore(paths.db);
    const { devices, reported } = reporting(store, paths.kgcDir);
    devices.refresh();
    return { paths, store, devices, reported };
  };

  it('behavior: revoked, re-enrolled and revoked again: reported each time; refresh sees new rows only', async () => {
    const { paths, store, devices, reported } = await reportingRegistry('data');
    try {
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
  /** A clock that moves 1 ms each time a slice reads it: with `sliceMs: 2`, two devices a slice. */
  const twoPerSlice = (): RefreshSliceOptions => {
    let t = 0;
    return { sliceMs: 2, elapsed: () => (t += 1) };
  };
  /** A clock that ends every slice after one device. */
  const onePerSlice = (): RefreshSliceOptions => ({
    sliceMs: 1,
    elapsed: (() => {
      let t = 0;
      return () => (t += 1);
    })(),
  });
  const turn = () => new Promise<void>((r) => setImmediate(r));
  const fresh = ['wr-0101', 'wr-0102', 'wr-0103', 'wr-0104', 'wr-0105', 'wr-0106'];

  it('behavior: in slices, a known device revoked is reloaded first, new certificates a slice a turn, an unchanged one not checked again', async () => {
    const { paths, store, devices, reported } = await reportingRegistry('slices');
    try {
      const kept = devices.lookup('wr-0001');
      for (const dev of fresh) await enrolDevice(paths, store, dev);
      await revokeEnrolledDevice(paths, store, 'wr-0002');
      const row = store.getDevice('wr-0001')!;
      store.upsertDevice({ ...row, status: 'active' }); // written again, the same certificate
      await new Promise((r) => setTimeout(r, 5));

      const done = devices.refreshInSlices(twoPerSlice());
      // The first slice ran in the call: the two known devices (same key), not a new one yet.
      expect(reported).toEqual(['wr-0002:store']);
      expect(devices.known().sort()).toEqual(['wr-0001', 'wr-0002']);
      expect(devices.refreshInSlices()).toBe(done); // one at a time
      await turn();
      const between = devices.known().length;
      expect(between).toBeGreaterThan(2);
      expect(between).toBeLessThan(2 + fresh.length);
      expect(await done).toBe(true);
      expect(devices.known().sort()).toEqual(['wr-0001', 'wr-0002', ...fresh]);
      expect(devices.lookup('wr-0103')?.status).toBe('active');
      // wr-0001's row was read again, its certificate the one checked before: the same
      // record, not a second chain check.
      expect(devices.lookup('wr-0001')).toBe(kept);
    } finally {
      store.close();
    }
  });

  it('behavior: a refresh in slices stopped part way resolves false, and the next refresh reads what it had not reached', async () => {
    const paths = await prepareDataDir(join(tmp.dir, 'stopped'), ['wr-0001']);
    const store = openStore(paths.db);
    try {
      const devices = new DeviceRegistry(store, readKgcTrust(paths.kgcDir));
      devices.refresh();
      for (const dev of fresh) await enrolDevice(paths, store, dev);
      await new Promise((r) => setTimeout(r, 5));
      const done = devices.refreshInSlices(twoPerSlice());
      const first = devices.known().length;
      devices.stopRefreshing();
      expect(await done).toBe(false);
      await turn();
      expect(devices.known().length).toBe(first); // no slice after the stop
      expect(first).toBeLessThan(1 + fresh.length);
      expect(await devices.refreshInSlices()).toBe(true);
      expect(devices.known().sort()).toEqual(['wr-0001', ...fresh]);
    } finally {
      store.close();
    }
  });

  it('behavior: the start read in slices: a device answered before its turn; revoked before the start, not news; revoked during it, news once', async () => {
    const paths = await prepareDataDir(join(tmp.dir, 'start'), ['wr-0001', 'wr-0002', ...fresh]);
    const store = openStore(paths.db);
    try {
      await revokeEnrolledDevice(paths, store, 'wr-0002'); // before this gateway starts
      const { devices, reported } = reporting(store, paths.kgcDir);
      const done = devices.refreshInSlices(twoPerSlice()); // what the start does
      expect(devices.known().length).toBe(2); // one slice so far
      const last = fresh.at(-1) as string;
      expect(devices.lookup(last)?.status).toBe('active'); // its frame before its turn: read now
      const checked = devices.lookup(last);
      // A device the pass has not reached yet is revoked while it runs.
      const unread = fresh.find((d) => !devices.known().includes(d)) as string;
      store.upsertDevice({ ...store.getDevice(unread)!, status: 'revoked' }); // as `kgc revoke` writes it
      expect(await done).toBe(true);
      expect(devices.lookup(unread)?.status).toBe('revoked');
      expect(devices.lookup('wr-0002')?.status).toBe('revoked');
      expect(reported).toEqual([`${unread}:store`]); // wr-0002's revocation was told before this start
      expect(devices.lookup(last)).toBe(checked); // reached in its turn: not checked again
      await new Promise((r) => setTimeout(r, 5));
      devices.refresh();
      expect(reported).toEqual([`${unread}:store`]); // once
    } finally {
      store.close();
    }
  });

  it('error: a refresh whose read of the store fails changes nothing: the next one reads every row since the last good read', async () => {
    const paths = await prepareDataDir(join(tmp.dir, 'failed-read'), ['wr-0001', 'wr-0002']);
    const store = openStore(paths.db);
    try {
      await revokeEnrolledDevice(paths, store, 'wr-0002');
      await new Promise((r) => setTimeout(r, 1100)); // the rows older than a refresh's overlap
      // Stands in for a read error of the store (SQLITE_IOERR), which cannot be produced on demand.
      let failNext = true;
      const flaky = new Proxy(store, {
        get(target, key, receiver) {
          if (key === 'devicesChangedSince' && failNext) {
            failNext = false;
            return () => {
              throw new Error('disk I/O error');
            };
          }
          const v = Reflect.get(target, key, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const { devices, reported } = reporting(flaky, paths.kgcDir);
      await expect(devices.refreshInSlices()).rejects.toThrow('disk I/O error');
      expect(await devices.refreshInSlices()).toBe(true);
      expect(devices.known().sort()).toEqual(['wr-0001', 'wr-0002']);
      expect(reported).toEqual([]); // revoked before this start: not news
    } finally {
      store.close();
    }
  });

  it('behavior: a device read after the CRL lists it, its store row active, is told revoked by the CRL', async () => {
    const paths = await prepareDataDir(join(tmp.dir, 'crl-first'), ['wr-0001', 'wr-0002']);
    const store = openStore(paths.db);
    try {
      const { devices, reported } = reporting(store, paths.kgcDir);
      const done = devices.refreshInSlices(onePerSlice()); // the start: one device read so far
      const unread = ['wr-0001', 'wr-0002'].find((d) => !devices.known().includes(d)) as string;
      const serial = new X509Certificate(store.getDevice(unread)!.certPem).serialNumber.toLowerCase();
      devices.setRevokedSerials(new Set([serial])); // the CRL read meanwhile (pollRevocations)
      expect(await done).toBe(true);
      expect(devices.lookup(unread)?.status).toBe('revoked');
      expect(reported).toEqual([`${unread}:crl`]);
    } finally {
      store.close();
    }
  });
  it('behavior: a device the CRL alone revokes is told once, not again at the next start (the store row marked)', async () => {
    const paths = await prepareDataDir(join(tmp.dir, 'crl-restart'), ['wr-0001', 'wr-0002', 'wr-0003']);
    const store = openStore(paths.db);
    try {
      const serialOf = (dev: string) =>
        new X509Certificate(store.getDevice(dev)!.certPem).serialNumber.toLowerCase();
      // The KGC's CRL, published elsewhere (the store rows stay active), lists wr-0002 when the
      // gateway starts (read by the start's pass), then wr-0001 too (held in memory by then).
      const first = reporting(store, paths.kgcDir);
      first.devices.setRevokedSerials(new Set([serialOf('wr-0002')]));
      first.devices.refresh(); // the start
      expect(first.reported).toEqual(['wr-0002:crl']);
      first.devices.setRevokedSerials(new Set([serialOf('wr-0001'), serialOf('wr-0002')]));
      expect(first.reported.sort()).toEqual(['wr-0001:crl', 'wr-0002:crl']);
      expect(store.getDevice('wr-0001')?.status).toBe('revoked');
      expect(store.getDevice('wr-0002')?.status).toBe('revoked');
      expect(store.getDevice('wr-0003')?.status).toBe('active');
      first.devices.refresh(); // the marks read back: told once all the same
      expect(first.reported).toHaveLength(2);

      // A restart: the CRL read again at its start, then the devices.
      const second = reporting(store, paths.kgcDir);
      second.devices.setRevokedSerials(new Set([serialOf('wr-0001'), serialOf('wr-0002')]));
      expect(await second.devices.refreshInSlices()).toBe(true);
      expect(second.devices.lookup('wr-0001')?.status).toBe('revoked');
      expect(second.devices.lookup('wr-0002')?.status).toBe('revoked');
      expect(second.devices.lookup('wr-0003')?.status).toBe('active');
      expect(second.reported).toEqual([]); // revoked before this start: not news

      // Re-enrolled with a new certificate: active, and the CRL (listing the old one) leaves it so.
      await enrolDevice(paths, store, 'wr-0001');
      await new Promise((r) => setTimeout(r, 5));
      second.devices.refresh();
      second.devices.setRevokedSerials(new Set([serialOf('wr-0002')]));
      expect(second.devices.lookup('wr-0001')?.status).toBe('active');
      expect(store.getDevice('wr-0001')?.status).toBe('active');
    } finally {
      store.close();
    }
  });
});
