/**
 * Serial ingest through real pseudo-terminals (Debian socat, a fresh pair per test) into
 * the real gateway (startGateway: acceptance rules, sealed SQLite store, log):
 * PROTOCOL.md §2 "Serial" framing, acks only after durable, naks with the rejection
 * code, resynchronisation after line noise, a bounded parser buffer, and reopening when
 * the link is cut and restored.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { SimDevice } from '../../firmware-sim/src/device.js';
import { createPatientModel } from '../../firmware-sim/src/physiology.js';
import { SerialDeviceLink } from '../../firmware-sim/src/serial-transport.js';
import { type RunningGateway, startGateway } from '../../gateway/src/app/gateway.js';
import type { DataPaths } from '../../gateway/src/io/ops/datadir.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { FramedSerialPort } from '../../gateway/src/io/transport/serial-port.js';
import { signFrame } from '../../gateway/src/protocol/frame.js';
import { decodeSerialReply, type SerialReply } from '../../gateway/src/protocol/serial-control.js';
import { encodeSerialMessage } from '../../gateway/src/protocol/serial-framing.js';
import { deviceKey, FrameChain, prepareDataDir, strangerKey } from '../helpers/gateway.js';
import { type PtyPair, startPtyPair } from '../helpers/socat.js';
import { makeTempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const DEV = 'sr-0001';
const OTHER = 'sr-0002';

describe('serial ingest on real ptys', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let paths: DataPaths;
  let pty: PtyPair;
  let gw: RunningGateway | undefined;

  beforeEach(async () => {
    tmp = makeTempDir('vt-serial-');
    paths = await prepareDataDir(tmp.dir, [DEV, OTHER]);
    pty = await startPtyPair(tmp.dir);
    gw = await startGateway({
      dataDir: tmp.dir,
      logger: silentLogger,
      serial: [{ path: pty.a, devices: [DEV] }],
    });
    await gw.serial?.opened(5000);
  });

  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
    await pty.stop();
    tmp.cleanup();
  });

  test('behavior: valid frames among 10 MB of random bytes, split frames, oversize runs and replays: each valid frame stored once and acked, each invalid one naked with its code', async () => {
    const running = gw as RunningGateway;
    const replies: SerialReply[] = [];
    const device = new FramedSerialPort({
      path: pty.b,
      onMessage: (b) => {
        const r = decodeSerialReply(new Uint8Array(b));
        if (r) replies.push(r);
      },
    });
    await device.opened(5000);

    const chain = new FrameChain(DEV, deviceKey(paths, DEV));
    const N = 50;
    const NOISE_PER_FRAME = 200 * 1024; // 50 x 200 KiB = 10.24 MB
    const frames: Uint8Array[] = [];
    for (let i = 0; i < N; i++) {
      const bytes = chain.next();
      frames.push(bytes);
      device.writeRaw(randomBytes(NOISE_PER_FRAME)); // about one 0x00 in 256 bytes
      const msg = encodeSerialMessage(bytes);
      // Start clean after the noise, then the frame: whole, or split in three writes.
      device.writeRaw(Uint8Array.of(0));
      if (i % 3 === 0) {
        const a = Math.floor(msg.length / 3);
        device.writeRaw(msg.subarray(0, a));
        await new Promise((r) => setTimeout(r, 3));
        device.writeRaw(msg.subarray(a, 2 * a));
        await new Promise((r) => setTimeout(r, 3));
        device.writeRaw(msg.subarray(2 * a));
      } else {
        device.writeRaw(msg);
      }
    }
    // Replays: the same bytes again (harmless duplicates) ...
    device.writeRaw(encodeSerialMessage(frames[4] as Uint8Array));
    device.writeRaw(encodeSerialMessage(frames[30] as Uint8Array));
    // ... and other bytes for an accepted seq (replay_conflict).
    const conflicting = signFrame(
      { v: 1, dev: DEV, seq: 10, ts: Date.now(), prev: new Uint8Array(32), obs: { hr: 60 } },
      deviceKey(paths, DEV),
    );
    device.writeRaw(encodeSerialMessage(conflicting));
    // A frame of another enrolled device on this port (identity_mismatch) ...
    const other = new FrameChain(OTHER, deviceKey(paths, OTHER)).next();
    device.writeRaw(encodeSerialMessage(other));
    // ... a forged signature (bad_signature) ...
    const forged = signFrame(chain.body(), strangerKey());
    device.writeRaw(encodeSerialMessage(forged));
    // ... a well-framed message that is not a frame (malformed, seq unknown: nak 0) ...
    device.writeRaw(encodeSerialMessage(randomBytes(1000)));
    // ... a framed message longer than any frame, and a 100 KB run without a delimiter
    // (both oversize at the parser: nak 0 malformed).
    device.writeRaw(encodeSerialMessage(new Uint8Array(70_000).fill(0x55)));
    device.writeRaw(Buffer.concat([Buffer.alloc(100_000, 0x42), Buffer.of(0)]));
    // The line still works afterwards.
    const last = chain.next();
    device.writeRaw(encodeSerialMessage(last));

    const acked = () => new Set(replies.filter((r) => r.kind === 'ack').map((r) => r.seq));
    const naks = () => replies.filter((r) => r.kind === 'nak');
    await until(() => acked().size === N + 1 && naks().length === 6, 40_000, 'every reply');
    await device.close();

    // Every valid frame stored exactly once; nothing else stored.
    expect(running.store.size).toBe(N + 1);
    for (let seq = 1; seq <= N + 1; seq++) expect(running.store.getFrame(DEV, seq)).toBeDefined();
    expect(running.store.getFrame(OTHER, 1)).toBeUndefined();
    expect([...acked()].sort((a, b) => a - b)).toEqual(Array.from({ length: N + 1 }, (_, i) => i + 1));
    expect(replies.filter((r) => r.kind === 'ack' && (r.seq === 5 || r.seq === 31))).toHaveLength(4);
    expect(running.ingest.counters.duplicates).toBe(2);

    const nakList = naks()
      .map((r) => `${r.seq}:${r.kind === 'nak' ? r.code : ''}`)
      .sort();
    expect(nakList).toEqual(
      [
        '0:malformed',
        '0:malformed',
        '0:malformed',
        '10:replay_conflict',
        '1:identity_mismatch',
        `${N + 1}:bad_signature`,
      ].sort(),
    );

    const [st] = running.serial?.status() ?? [];
    expect(st?.state).toBe('open');
    expect(st?.bytesIn).toBeGreaterThan(10_000_000);
    expect(st?.lineErrors.oversize).toBe(2);
    expect((st?.lineErrors.bad_cobs ?? 0) + (st?.lineErrors.bad_crc ?? 0)).toBeGreaterThan(1000);
    // Memory bound: the parser never held more than one maximal encoded frame.
    expect(st?.peakBufferedBytes).toBeLessThanOrEqual(st?.maxBufferedBytes ?? 0);
    expect(st?.maxBufferedBytes).toBeLessThan(70_000);
  });

  test('behavior: socat killed and restored mid-stream: the gateway reopens within 5 s and every frame the device made is stored exactly once', async () => {
    const running = gw as RunningGateway;
    const device = new SimDevice({
      devId: DEV,
      privateKey: deviceKey(paths, DEV),
      model: createPatientModel({ seed: 3 }),
    });
    const link = await SerialDeviceLink.open({ path: pty.b, device, ackTimeoutMs: 400 });
    let producing = true;
    const ticker = setInterval(() => {
      if (!producing) return;
      device.makeFrame();
      link.send();
    }, 20);
    try {
      await until(() => running.store.size >= 20, 10_000, 'frames before the cut');
      const opensBefore = running.serial?.status()[0]?.opens ?? 0;
      await pty.cut();
      await until(() => running.serial?.status()[0]?.state === 'reopening', 5000, 'gateway sees the cut');
      const sizeAtCut = running.store.size;
      await new Promise((r) => setTimeout(r, 800)); // the device keeps making frames
      await pty.restore();
      const restoredAt = Date.now();
      await until(() => running.serial?.status()[0]?.state === 'open', 5000, 'gateway reopens');
      const reopenMs = Date.now() - restoredAt;
      expect(reopenMs).toBeLessThan(5000);
      expect(running.serial?.status()[0]?.opens).toBe(opensBefore + 1);
      await until(() => running.store.size > sizeAtCut + 20, 10_000, 'frames after the restore');
    } finally {
      producing = false;
      clearInterval(ticker);
    }
    await link.flushed(15_000);
    await link.close();

    const made = device.stats.made;
    expect(device.stats.acked).toBe(made);
    expect(running.store.size).toBe(made);
    expect(running.ingest.counters.accepted).toBe(made);
    for (let seq = 1; seq <= made; seq++) expect(running.store.getFrame(DEV, seq)).toBeDefined();
    const dev = running.store.listDevices().find((d) => d.dev === DEV);
    expect(dev?.frameCount).toBe(made);
    expect(dev?.lastSeq).toBe(made);
    expect(link.stats.opens).toBe(2);
  });
});
