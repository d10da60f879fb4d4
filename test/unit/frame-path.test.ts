/**
 * io/transport/frame-path: a frame counts as answered to the edge only while the connection
 * takes writes. The socket here is a real Node `Writable` whose other end does not read (its
 * writes are completed only when the test says so): the state a device that does not read
 * its PUBACKs puts the gateway's socket in once the kernel's buffers are full, which a real
 * TCP connection reaches only after megabytes of PUBACKs.
 */
import { Writable } from 'node:stream';
import { expect, test } from 'vitest';
import { answerWhenDrained } from '../../gateway/src/io/transport/frame-path.js';

test('behavior: while the socket’s writes are backed up, answers wait for its drain, then all come at once (one listener)', async () => {
  const unread: (() => void)[] = [];
  const socket = new Writable({
    highWaterMark: 4,
    write(_chunk, _enc, done) {
      unread.push(() => done());
    },
  });
  const own = { afterDrain: [] as (() => void)[] };
  let answered = 0;
  answerWhenDrained(socket, own, () => answered++);
  expect(answered).toBe(1); // nothing backed up: at once
  socket.write(Buffer.from([0x40, 0x02, 0x00, 0x01, 0x40, 0x02, 0x00, 0x02])); // over the mark
  expect(socket.writableNeedDrain).toBe(true);
  for (let i = 0; i < 20; i++) answerWhenDrained(socket, own, () => answered++);
  expect(answered).toBe(1);
  expect(socket.listenerCount('drain')).toBe(1);
  for (const done of unread.splice(0)) done(); // the other end reads
  await new Promise((r) => setImmediate(r));
  expect(answered).toBe(21);
  expect(own.afterDrain).toEqual([]);
  expect(socket.listenerCount('drain')).toBe(0);
});
