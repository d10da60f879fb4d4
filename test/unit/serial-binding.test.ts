/**
 * The serial port binding (PROTOCOL.md §1: the transport identity of a serial frame is the
 * port's binding) and the CLI's `--serial PATH=DEV[,DEV…]` and `--faults` parsing.
 */
import { describe, expect, test } from 'vitest';
import { parseFaults, parseSerialSpec } from '../../gateway/src/cli/serial.js';
import { serialTransportDevice } from '../../gateway/src/io/transport/serial.js';
import { FrameChain, strangerKey } from '../helpers/gateway.js';

describe('serial port binding', () => {
  const key = strangerKey(); // the signature is not checked here, only the kid
  const frameOf = (dev: string) => new FrameChain(dev, key).next();

  test('behavior: a frame whose kid is bound to the port has that device as its transport identity', () => {
    expect(serialTransportDevice(frameOf('bed-1'), ['bed-1', 'bed-2'])).toBe('bed-1');
    expect(serialTransportDevice(frameOf('bed-2'), ['bed-1', 'bed-2'])).toBe('bed-2');
    expect(serialTransportDevice(frameOf('bed-9'), ['bed-9'])).toBe('bed-9');
  });

  test('error: a frame of a device not bound to the port gets another identity (identity_mismatch follows)', () => {
    expect(serialTransportDevice(frameOf('bed-3'), ['bed-1', 'bed-2'])).toBe('bed-1');
    expect(serialTransportDevice(frameOf('bed-3'), ['bed-1'])).toBe('bed-1');
    expect(serialTransportDevice(Uint8Array.of(1, 2, 3), ['bed-1', 'bed-2'])).toBe('bed-1');
    expect(() => serialTransportDevice(frameOf('bed-1'), [])).toThrow(TypeError);
  });
});

describe('CLI serial options', () => {
  test('behavior: PATH=DEV[,DEV…], by-id paths included', () => {
    expect(parseSerialSpec('/dev/ttyUSB0=wr-0042')).toEqual({ path: '/dev/ttyUSB0', devices: ['wr-0042'] });
    expect(parseSerialSpec('/dev/serial/by-id/usb-FTDI_FT232R_A1=x-if00=bed-1,bed-2')).toEqual({
      path: '/dev/serial/by-id/usb-FTDI_FT232R_A1=x-if00',
      devices: ['bed-1', 'bed-2'],
    });
    expect(parseFaults('noise,drop')).toEqual({ noise: 0.1, drop: 0.1 });
    expect(parseFaults(undefined)).toEqual({});
  });

  test('error: a spec without devices, a bad device id or an unknown fault is a usage error', () => {
    expect(() => parseSerialSpec('/dev/ttyUSB0')).toThrow(/PATH=DEV/);
    expect(() => parseSerialSpec('=wr-1')).toThrow(/PATH=DEV/);
    expect(() => parseSerialSpec('/dev/ttyUSB0=wr 1')).toThrow(/device ids/);
    expect(() => parseSerialSpec('/dev/ttyUSB0=')).toThrow(/device ids/);
    expect(() => parseFaults('noise,fire')).toThrow(/--faults/);
  });
});
