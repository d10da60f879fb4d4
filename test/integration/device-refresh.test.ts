/**
 * @module test/integration/device-refresh
 * A running gateway picks up a big enrolment without holding its event loop for it
 * (io/identity/devices `refreshInSlices`, app/core-steps `deviceRefresh`): each certificate's
 * chain check costs ~0.8 ms, and 5,020 devices enrolled at once held the loop 3.7-4.0 s in one
 * refresh, every frame of the ward waiting behind it. Here 150 devices are written to the
 * store in one transaction, behind the gateway's back (as `kgc enroll` from another process
 * does); the gateway reads them over several turns of its event loop, which is seen from a
 * callback that runs between turns (`setImmediate`) finding some of them known and not all.
 * In one refresh, that callback finds none of them or all of them.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollDevice, spkiSha256 } from '../../anchor/src/kgc/index.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { deviceKey, FrameChain, prepareDataDir } from '../helpers/gateway.js';
import { makeTempDir } from '../helpers/tmp.js';

const ENROLLED = 150;

let tmp: ReturnType<typeof makeTempDir>;
let paths: DataPaths;
let gw: RunningGateway;

beforeAll(async () => {
  tmp = makeTempDir('vt-devrefresh-');
  paths = await prepareDataDir(join(tmp.dir, 'data'), ['wr-0001']);
  gw = (await startGateway({
    dataDir: paths.root,
    logger: silentLogger,
    checkpointIntervalMs: 3_600_000,
    deviceRefreshMs: 50,
  })) as RunningGateway;
}, 60_000);
afterAll(async () => {
  await gw?.stop();
  tmp.cleanup();
});

describe('device refresh on a running gateway', () => {
  it('behavior: 150 devices enrolled at once are read over several turns of the event loop, and the ward frames are answered meanwhile', async () => {
    const ids = Array.from({ length: ENROLLED }, (_, i) => `wr-b${String(i).padStart(3, '0')}`);
    const certs: string[] = [];
    for (const dev of ids) certs.push((await enrollDevice(paths.kgcDir, dev, paths.deviceDir(dev))).certPem);
    const before = gw.devices.known().length;
    const seen: number[] = [];
    const sampled = new Promise<void>((resolve, reject) => {
      const until = Date.now() + 30_000;
      const sample = () => {
        const n = gw.devices.known().length;
        seen.push(n);
        if (n >= before + ENROLLED) resolve();
        else if (Date.now() > until) reject(new Error(`only ${n - before} of ${ENROLLED} devices known`));
        else setImmediate(sample);
      };
      setImmediate(sample);
    });
    gw.store.db.transaction(() => {
      ids.forEach((dev, i) => {
        const certPem = certs[i] as string;
        gw.store.upsertDevice({ dev, certPem, spkiSha256: spkiSha256(certPem), status: 'active' });
      });
    })();
    // A ward device keeps sending meanwhile: its frame is answered.
    const chain = new FrameChain('wr-0001', deviceKey(paths, 'wr-0001'));
    expect(await gw.ingest.submit(chain.next(), 'wr-0001')).toMatchObject({ status: 'accepted' });
    await sampled;
    const partly = seen.filter((n) => n > before && n < before + ENROLLED);
    expect(partly.length).toBeGreaterThan(0);
    // Every one of them, once read: a frame of the last is accepted.
    const last = ids.at(-1) as string;
    const lastChain = new FrameChain(last, deviceKey(paths, last));
    expect(await gw.ingest.submit(lastChain.next(), last)).toMatchObject({ status: 'accepted' });
  }, 60_000);
});
