/**
 * core/topics: the device topic ACL of PROTOCOL.md §2. The frames topic's parser
 * (`deviceOfFramesTopic`, asked for every frame) no longer splits the topic; it must answer
 * as the five-level reading of `vt/v1/dev/{dev}/frames` does for any topic, and `mayPublish`
 * as `deviceOfFramesTopic(topic) === clientId` for any client id and topic.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deviceOfFramesTopic, framesTopic, mayPublish } from '../../gateway/src/core/topics.js';
import { DEVICE_ID_PATTERN } from '../../gateway/src/protocol/frame.js';
import { fcRuns } from '../helpers/fc-runs.js';

const idChars = fc.constantFrom(...'ab.-_/+#9Z'.split(''));
const clientId = fc.oneof(
  fc.constantFrom('wr-0001', '.', '..', '-x', 'a'.repeat(64), 'a'.repeat(65), '', 'a/b'),
  fc.string({ unit: idChars, maxLength: 8 }),
);
/** Topics around a client's frames topic: its own, others', near misses and junk. */
const topicFor = (id: string) =>
  fc.oneof(
    fc.constant(framesTopic(id)),
    clientId.map(framesTopic),
    fc.constantFrom(
      `vt/v1/dev/${id}/frames/`,
      `vt/v1/dev/${id}/acks`,
      `vt/v1/dev//${id}/frames`,
      `vt/v2/dev/${id}/frames`,
    ),
    fc
      .tuple(fc.string({ unit: idChars, maxLength: 3 }), fc.string({ unit: idChars, maxLength: 3 }))
      .map(([a, b]) => `${a}vt/v1/dev/${id}/frames${b}`),
    fc.string({ maxLength: 40 }),
  );

/** The model: the topic's five levels, `vt`, `v1`, `dev`, a device id, `frames`. */
function modelDeviceOf(topic: string): string | undefined {
  const [vt, v1, d, dev, frames, ...rest] = topic.split('/');
  if (rest.length > 0 || vt !== 'vt' || v1 !== 'v1' || d !== 'dev' || frames !== 'frames') return undefined;
  return dev !== undefined && DEVICE_ID_PATTERN.test(dev) ? dev : undefined;
}

describe('core/topics', () => {
  it('behavior: deviceOfFramesTopic answers as the five-level model of the frames topic, for any topic', () => {
    fc.assert(
      fc.property(
        clientId.chain((id) => topicFor(id)),
        (topic) => {
          expect(deviceOfFramesTopic(topic)).toBe(modelDeviceOf(topic));
        },
      ),
      { numRuns: fcRuns(2000) },
    );
    for (const t of [
      'vt/v1/dev/frames',
      'vt/v1/dev//frames',
      'vt/v1/dev/a/b/frames',
      'vt/v1/dev/wr-1/frames',
    ])
      expect(deviceOfFramesTopic(t)).toBe(modelDeviceOf(t));
  });

  it('behavior: mayPublish answers as deviceOfFramesTopic(topic) === clientId, for any id and topic', () => {
    fc.assert(
      fc.property(
        clientId.chain((id) => fc.tuple(fc.constant(id), topicFor(id))),
        ([id, topic]) => {
          expect(mayPublish(id, topic)).toBe(deviceOfFramesTopic(topic) === id);
        },
      ),
      { numRuns: fcRuns(2000) },
    );
  });

  it('behavior: a device may publish to its own frames topic only', () => {
    expect(mayPublish('wr-0001', 'vt/v1/dev/wr-0001/frames')).toBe(true);
    expect(mayPublish('wr-0001', 'vt/v1/dev/wr-0002/frames')).toBe(false);
    expect(mayPublish('wr-0001', 'vt/v1/dev/wr-0001/acks')).toBe(false);
    expect(mayPublish('..', 'vt/v1/dev/../frames')).toBe(false); // not a device id
  });
});
