/**
 * A real MLLP receiver for the PCD-01 tests: @medplum/hl7's `Hl7Server` on an ephemeral port
 * (Hl7Server.start listens on every interface; the tests connect to 127.0.0.1). A policy
 * decides per received message (numbered across connections from 0) what the receiver does:
 * answer with an ACK code, answer with a stray ACK (MSA-2 of another message), stay silent,
 * or close the connection. The raw ER7 text of every message is captured from the socket
 * bytes (VT … FS CR), independently of medplum's parser.
 */
import type { AddressInfo } from 'node:net';
import type { Hl7Message } from '@medplum/core';
import { Hl7Server } from '@medplum/hl7';
import { MllpReceiver } from '../../gateway/src/io/interfaces/mllp-receiver.js';

export type ServerAction = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR' | 'stray' | 'silent' | 'close';

export interface TestHl7Server {
  port: number;
  /** Parsed messages, in arrival order. */
  received: Hl7Message[];
  /** The same messages as the raw text between VT and FS CR. */
  raw: string[];
  /** Connections accepted so far. */
  connections: number;
  stop(): Promise<void>;
}

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

/** Starts a receiver on `port` (0: a free one). */
export async function startHl7Server(
  policy: (index: number, msg: Hl7Message) => ServerAction,
  port = 0,
): Promise<TestHl7Server> {
  const state: TestHl7Server = { port: 0, received: [], raw: [], connections: 0, stop: async () => {} };
  const server = new Hl7Server((connection) => {
    state.connections++;
    let pending = Buffer.alloc(0);
    connection.socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const start = pending.indexOf(VT);
        const end = pending.indexOf(Buffer.from([FS, CR]), start + 1);
        if (start < 0 || end < 0) break;
        state.raw.push(pending.subarray(start + 1, end).toString('utf8'));
        pending = pending.subarray(end + 2);
      }
    });
    connection.addEventListener('message', (event) => {
      const index = state.received.length;
      state.received.push(event.message);
      const action = policy(index, event.message);
      if (action === 'silent') return;
      if (action === 'close') {
        connection.socket.destroy();
        return;
      }
      if (action === 'stray') {
        const ack = event.message.buildAck({ ackCode: 'AA' });
        ack.getSegment('MSA')?.setField(2, 'someone-else:1');
        connection.send(ack);
        return;
      }
      connection.send(event.message.buildAck({ ackCode: action }));
    });
  });
  await server.start(port);
  const address = server.server?.address() as AddressInfo | undefined;
  if (!address) throw new Error('the HL7 server did not start listening');
  state.port = address.port;
  state.stop = () => server.stop({ forceDrainTimeoutMs: 0 });
  return state;
}

/** The gateway's MLLP receiver `mllp` to a test server's port (2 s for each ACK). */
export function mllpReceiverTo(port: number): MllpReceiver {
  return new MllpReceiver({
    name: 'mllp',
    host: '127.0.0.1',
    port,
    ackTimeoutMs: 2000,
    message: { sendingApp: 'VT', sendingFacility: 'gw-1', receivingApp: 'EHR', receivingFacility: 'H' },
  });
}
