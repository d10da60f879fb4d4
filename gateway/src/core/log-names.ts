/**
 * @module core/log-names
 * The names of the gateway's two logs (PROTOCOL.md §3): each log's origin line, its log id
 * (SHA-256 of the origin, the key its anchors are filed under on the ledger), and the `0x`
 * hex its hashes are written in on the chain and in bundles. Pure: exports, bundles and the
 * HTTP routes name a log without loading the ledger's client (viem), which a CLI command
 * that never talks to a chain does not need (test/unit/cli-load.test.ts).
 */
import { createHash } from 'node:crypto';

/** `0x` and lowercase hex, as the ledger's `Hex` (a core module imports no layer above it). */
type Hex = `0x${string}`;

/** PROTOCOL.md §3: origin line of the checkpoint; logId = SHA-256(origin). */
export function checkpointOrigin(gatewayId: string): string {
  return `vitaltrail/${gatewayId}`;
}

/** Issue 18: origin of the gateway's access log, its second log (io/access); logId = SHA-256(origin). */
export function accessLogOrigin(gatewayId: string): string {
  return `vitaltrail/${gatewayId}/access`;
}

export function logIdOf(origin: string): Hex {
  return `0x${createHash('sha256').update(origin, 'utf8').digest('hex')}`;
}

export const toHex = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString('hex')}`;
