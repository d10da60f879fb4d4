/**
 * Serial framing and serial ingest figures (PROTOCOL.md §2 "Serial"), each beside a
 * reference measured in the same run. Run after `npm run build`:
 *   node dist/test/bench/serial.js
 * - CobsCrcParser throughput on a stream of framed ~200-byte messages, and on random
 *   bytes (line noise), against node:zlib CRC-32 over the same bytes (the floor);
 * - frames/s through a real socat pty into the real gateway (acceptance rules, sealed
 *   SQLite store, log) with acks back, against the line rate of 115200 baud 8N1.
 * Environment: BENCH_SERIAL_FRAMES (2000) for the pty run.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { crc32 } from 'node:zlib';
import { SimDevice } from '../../firmware-sim/src/device.js';
import { createPatientModel } from '../../firmware-sim/src/physiology.js';
import { SerialDeviceLink } from '../../firmware-sim/src/serial-transport.js';
import { startGateway } from '../../gateway/src/app/gateway.js';
import { silentLogger } from '../../gateway/src/io/ops/log.js';
import { CobsCrcParser, encodeSerialMessage } from '../../gateway/src/protocol/serial-framing.js';
import { deviceKey, prepareDataDir } from '../helpers/gateway.js';
import { startPtyPair } from '../helpers/socat.js';
import { makeTempDir } from '../helpers/tmp.js';

const PTY_FRAMES = Number(process.env.BENCH_SERIAL_FRAMES ?? 2000);
const MB = 1e6;

function timeIt(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

function parserRate(stream: Buffer): number {
  const parser = new CobsCrcParser();
  parser.on('data', () => {});
  parser.on('lineError', () => {});
  const chunk = 4096;
  return (
    stream.length /
    MB /
    timeIt(() => {
      for (let at = 0; at < stream.length; at += chunk) parser.write(stream.subarray(at, at + chunk));
    })
  );
}

const framed = Buffer.concat(Array.from({ length: 50_000 }, () => encodeSerialMessage(randomBytes(200))));
const noise = randomBytes(framed.length);
const crcRate = framed.length / MB / timeIt(() => crc32(framed));
const framedRate = parserRate(framed);
const noiseRate = parserRate(noise);
const line = 115_200 / 10 / MB; // 8N1: 10 bits per byte
const out = (label: string, value: string) => process.stdout.write(`${label.padEnd(52)} ${value}\n`);
out('node:zlib crc32 (reference, 1 core)', `${crcRate.toFixed(0)} MB/s`);
out(
  'CobsCrcParser, framed 200-byte messages',
  `${framedRate.toFixed(1)} MB/s = ${(framedRate / crcRate).toFixed(3)} x crc32`,
);
out(
  'CobsCrcParser, random bytes (line noise)',
  `${noiseRate.toFixed(1)} MB/s = ${(noiseRate / crcRate).toFixed(3)} x crc32`,
);
out('line rate of 115200 baud 8N1 (reference)', `${(line * MB).toFixed(0)} B/s`);

const tmp = makeTempDir('vt-bench-serial-');
try {
  const paths = await prepareDataDir(tmp.dir, ['sr-0001']);
  const pty = await startPtyPair(tmp.dir);
  const gw = await startGateway({
    dataDir: tmp.dir,
    logger: silentLogger,
    serial: [{ path: pty.a, devices: ['sr-0001'] }],
  });
  await gw.serial?.opened(5000);
  const device = new SimDevice({
    devId: 'sr-0001',
    privateKey: deviceKey(paths, 'sr-0001'),
    model: createPatientModel({ seed: 1 }),
    maxOutbox: PTY_FRAMES,
  });
  let bytes = 0;
  for (let i = 0; i < PTY_FRAMES; i++) bytes += encodeSerialMessage(device.makeFrame().bytes).length;
  const t0 = performance.now();
  const link = await SerialDeviceLink.open({ path: pty.b, device, window: 64 });
  await link.flushed(120_000);
  const s = (performance.now() - t0) / 1000;
  await link.close();
  await gw.stop();
  await pty.stop();
  const rate = PTY_FRAMES / s;
  const perFrame = bytes / PTY_FRAMES;
  out(
    'frames acked durably over a pty (window 64)',
    `${rate.toFixed(0)} /s = ${((rate * perFrame) / (line * MB)).toFixed(1)} x the 115200-baud line (${perFrame.toFixed(0)} B/frame)`,
  );
} finally {
  tmp.cleanup();
}
