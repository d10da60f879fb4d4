/**
 * @module io/identity/broker-security
 * What device identity and the embedded broker agree on at connect time (PROTOCOL.md §2
 * "TLS port"): the mutual-TLS listener's trust anchors, the peer check identity performs
 * for the broker, and the refusals the broker reports back for the audit log. Types
 * only; the broker (io/transport/mqtt-broker) imports them, identity implements them.
 */
import type { ErrorGroupCode } from '../../protocol/error-codes.js';

export interface BrokerTlsOptions {
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Server private key and certificate chain (PEM). */
  key: string | Buffer;
  cert: string | Buffer;
  /** Trust anchors for client certificates: the KGC root and its issuing CA (PEM). */
  ca: readonly string[];
}

/** Why a TLS handshake or a CONNACK was refused (the registry's `connect_refusal` group). */
export type ConnectRefusalCode = ErrorGroupCode<'connect_refusal'>;

/** A handshake or CONNACK refusal (reason codes only; never certificate contents). */
export type BrokerSecurityEvent =
  | { event: 'tls_refused'; reason: string; remote?: string }
  | { event: 'connect_refused'; reason: string; dev?: string; transport: 'tls' | 'plain'; remote?: string }
  /** The broker's edge closed a connection: `reason` from the `mqtt_edge` group, `rule` the detail. */
  | {
      event: 'connection_closed';
      reason: string;
      rule: string;
      dev?: string;
      transport: 'tls' | 'plain';
      remote?: string;
    }
  /** A client reached the rejection limit: closed, and its id may not reconnect from `remote` for a while. */
  | {
      event: 'client_throttled';
      reason: 'rejection_limit';
      dev: string;
      transport: 'tls' | 'plain';
      remote?: string;
      /** The most frequent rejection code, and how many rejections within the window. */
      cause: string;
      count: number;
    };

/**
 * Decides whether a TLS client may connect as `clientId` given its certificate (DER,
 * already chain-checked by the handshake).
 */
export type PeerAuthenticator = (
  clientId: string,
  peerDer: Buffer,
) => { ok: true } | { ok: false; reason: ConnectRefusalCode };
