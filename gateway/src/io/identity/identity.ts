/**
 * @module io/identity/identity
 * The gateway's device-identity shell (issue 3; PROTOCOL.md §1 acceptance rules, §2 TLS
 * port, §4 registry): the device registry checked against the KGC root and issuing CA,
 * the mutual-TLS listener's options and its per-client admission check, revocation from
 * three sources (store status, the KGC's signed CRL, the chain registry's
 * `DeviceRevoked` events) taking effect within one poll and closing the device's open
 * MQTT sessions, and the audit log of every rejection, refusal, revocation and login.
 *
 * `startGateway` composes it; nothing here runs per frame except `onReject`.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseAbiItem } from 'abitype';
import type { PublicClient } from 'viem';
import { REGISTRY_ABI } from '../../../../anchor/src/contracts/index.js';
import {
  readKgcTrust,
  readRevokedSerials,
  verifyCertificateChain,
} from '../../../../anchor/src/kgc/index.js';
import type { Deployment } from '../../../../anchor/src/ledger/index.js';
import { logCode, VitalTrailError } from '../../protocol/errors.js';
import { seqForJson, type WireUint } from '../../protocol/frame.js';
import type { DataPaths, Logger } from '../ops/index.js';
import { AuditLog } from '../ops/index.js';
import type { GatewayStore } from '../store/index.js';
import type { BrokerSecurityEvent, BrokerTlsOptions, PeerAuthenticator } from './broker-security.js';
import { DeviceRegistry } from './devices.js';

/** Default interval of the CRL re-read and the registry event poll. */
export const DEFAULT_REVOCATION_POLL_MS = 5000;

const DEVICE_REVOKED_EVENT = parseAbiItem('event DeviceRevoked(bytes32 indexed devIdHash, string devId)');
const DEVICE_REGISTERED_EVENT = parseAbiItem(
  'event DeviceRegistered(bytes32 indexed devIdHash, string devId, bytes32 spkiHash)',
);

export interface MqttsOptions {
  /** 0 picks a free port. Default 8883. */
  port?: number;
  host?: string;
  /** Server certificate chain (leaf + issuing CA) and key, e.g. from `vitaltrail kgc gateway-cert`. */
  certPath: string;
  keyPath: string;
}

/** What revocation needs of a broker: closing a device's sessions (io/transport/mqtt-broker). */
export interface SessionCloser {
  /** Closes `dev`'s sessions; true when one was open. */
  closeClient(dev: string): boolean;
}

export interface IdentityOptions {
  paths: DataPaths;
  store: GatewayStore;
  log: Logger;
  mqtts?: MqttsOptions;
  /**
   * The chain this gateway anchors on: its registry's `DeviceRevoked` events revoke devices,
   * its `DeviceRegistered` events admit keys, and a device whose current key it does not hold
   * as active is `unregistered_device` (issue 17). `signal` aborts the registry's calls in
   * flight (the gateway's stop).
   */
  chain?: { rpcUrl: string; deployment: Deployment; signal?: AbortSignal };
  /** CRL re-read and registry poll interval. Default 5 s. */
  revocationPollMs?: number;
  /** The audit log's rotation size (io/ops/audit-rotation); default 0: never. */
  auditRotateBytes?: number;
  now?: () => number;
}

export interface Identity {
  devices: DeviceRegistry;
  audit: AuditLog;
  /** Options to spread into `startEmbeddedBroker` (io/transport/mqtt-broker). */
  brokerOptions: {
    tls?: BrokerTlsOptions;
    authenticatePeer: PeerAuthenticator;
    onSecurityEvent: (e: BrokerSecurityEvent) => void;
  };
  /** Lets revocations close sessions on this broker. */
  attachBroker(broker: SessionCloser): void;
  /** Audits a rejected frame (device, seq, code: never the payload); an ingest `rejected` listener. */
  onReject(r: { dev?: string; seq?: WireUint; code: string }, transportDev: string): void;
  /**
   * Re-reads the CRL and polls the registry's device events once (the timers do it
   * periodically): revocations and registrations. Never rejects; a chain that does not
   * answer is retried at the next poll.
   */
  pollRevocations(): Promise<void>;
  /** Re-reads the KGC's CRL (`DATA/kgc/crl/crl.pem`) once; a CRL that is not usable is logged. */
  refreshCrl(): Promise<void>;
  /**
   * Whether the chain registry holds this SPKI hash revoked (PROTOCOL.md §4); only with a
   * chain. Rejects when the chain does not answer.
   */
  isKeyRevoked?: (spkiSha256: `0x${string}`) => Promise<boolean>;
  /**
   * Stops the revocation timers and writes the audit events still buffered. A registry poll
   * in flight ends at its next step without touching the store or logging.
   * @throws {AuditError} `audit_write_failed` when some could not be written (a full disk)
   */
  stop(): void;
}

/**
 * The chain registry's read side. Its client (viem) is loaded at the first call, not with this
 * module: every CLI command that opens the device registry loads this file, and most never
 * talk to a chain (test/unit/cli-load.test.ts).
 */
function registryReader(chain: { rpcUrl: string; deployment: Deployment; signal?: AbortSignal }) {
  let loaded: Promise<PublicClient> | undefined;
  const ledger = () => import('../../../../anchor/src/ledger/index.js');
  const client = (): Promise<PublicClient> =>
    (loaded ??= ledger().then((l) =>
      l.createReadClient(chain.rpcUrl, chain.deployment.chainId, chain.signal),
    ));
  const address = chain.deployment.registry;
  return {
    address,
    /** The block the registry was deployed in: where the first poll of its events starts. */
    firstBlock: BigInt(chain.deployment.deployBlock),
    client,
    /** The code of a failed read for the log (`ledger_unavailable` for a node that does not answer). */
    codeOf: async (err: unknown): Promise<string> =>
      logCode((await ledger()).toLedgerError(err, 'registry poll', 'ledger_unavailable')),
    isKeyRevoked: async (spkiSha256: `0x${string}`): Promise<boolean> =>
      (await client()).readContract({
        address,
        abi: REGISTRY_ABI,
        functionName: 'isKeyRevoked',
        args: [spkiSha256],
      }),
  };
}

/**
 * Builds the identity shell and starts its revocation timers.
 * @throws {VitalTrailError} `config_invalid` when the TLS certificate or key cannot be read.
 * @example
 * const identity = createIdentity({ paths, store, log, mqtts: { certPath, keyPath } });
 */
export function createIdentity(opts: IdentityOptions): Identity {
  const { paths, store, log } = opts;
  const now = opts.now ?? Date.now;
  const trust = readKgcTrust(paths.kgcDir);
  // Told once when batches start failing (a full disk: retried every second meanwhile) and
  // once when one is written again, not at every try.
  let auditFailing = false;
  const audit = new AuditLog(paths.gatewayDir, {
    rotateBytes: opts.auditRotateBytes ?? 0,
    onError: (err) => {
      if (auditFailing) return;
      auditFailing = true;
      log.error('audit write failed; its events wait in memory and are retried', { code: logCode(err) });
    },
  });
  audit.onWritten(() => {
    if (!auditFailing) return;
    auditFailing = false;
    log.warn('audit log writable again');
  });
  let broker: SessionCloser | undefined;

  const closeSessions = (dev: string, source: string) => {
    const closed = broker?.closeClient(dev) ?? false;
    audit.append('device_revoked', { dev, source });
    if (closed) audit.append('session_closed', { dev, reason: 'revoked_device' });
    log.warn('device revoked', { dev, source, sessionClosed: closed });
  };
  const devices = new DeviceRegistry(store, trust, {
    now,
    onRevoked: closeSessions,
    ...(opts.chain
      ? { registration: { chainId: opts.chain.deployment.chainId, registry: opts.chain.deployment.registry } }
      : {}),
  });

  const onSecurityEvent = (e: BrokerSecurityEvent) => {
    const where = {
      ...('dev' in e && e.dev ? { dev: e.dev } : {}),
      ...(e.remote ? { remote: e.remote } : {}),
    };
    if (e.event === 'tls_refused') {
      audit.append('tls_refused', { reason: e.reason, transport: 'tls', ...where });
    } else if (e.event === 'connect_refused') {
      audit.append('connect_refused', { reason: e.reason, transport: e.transport, ...where });
    } else if (e.event === 'connection_closed') {
      audit.append('connection_closed', {
        reason: e.reason,
        detail: e.rule,
        transport: e.transport,
        ...where,
      });
    } else {
      audit.append('client_throttled', {
        reason: e.reason,
        code: e.cause,
        detail: `${e.count} rejected frames`,
        transport: e.transport,
        ...where,
      });
    }
    log.warn(e.event === 'client_throttled' ? 'client throttled' : 'connection refused', {
      event: e.event,
      reason: e.reason,
    });
  };

  const authenticatePeer: PeerAuthenticator = (clientId, peerDer) => {
    // Defence in depth: the handshake already checked the chain; check it again with our
    // own rules (every link by signature, root by its exact bytes, validity now).
    let pem: string;
    try {
      pem = new X509Certificate(peerDer).toString();
    } catch {
      return { ok: false, reason: 'untrusted_certificate' };
    }
    const check = verifyCertificateChain(pem, trust.rootPem, trust.intermediatesPem, now());
    if (!check.ok) return { ok: false, reason: check.code };
    if (check.cn !== clientId) return { ok: false, reason: 'client_id_mismatch' };
    const serial = new X509Certificate(peerDer).serialNumber.toLowerCase();
    const verdict = devices.checkPeerCertificate(clientId, { spkiSha256: check.spkiSha256, serial });
    return verdict.ok ? { ok: true } : { ok: false, reason: verdict.code };
  };

  let tls: BrokerTlsOptions | undefined;
  if (opts.mqtts) {
    try {
      tls = {
        port: opts.mqtts.port ?? 8883,
        ...(opts.mqtts.host ? { host: opts.mqtts.host } : {}),
        cert: readFileSync(opts.mqtts.certPath),
        key: readFileSync(opts.mqtts.keyPath),
        ca: [trust.rootPem, ...trust.intermediatesPem],
      };
    } catch (err) {
      throw new VitalTrailError('config_invalid', 'the MQTT TLS certificate or key cannot be read', {
        cause: err,
      });
    }
  }

  // Revocation sources beyond the store: the CRL file and the chain registry.
  const registry = opts.chain ? registryReader(opts.chain) : undefined;
  let fromBlock = registry?.firstBlock ?? 0n;
  const refreshCrl = async (): Promise<void> => {
    try {
      devices.setRevokedSerials(await readRevokedSerials(paths.kgcDir));
    } catch (err) {
      log.warn('CRL not usable', { code: logCode(err) });
    }
  };
  let polling = false;
  /** Set by `stop`: a poll in flight checks it after each wait, before it reads or writes the store. */
  let stopped = false;
  const pollRevocations = async (): Promise<void> => {
    if (polling || stopped) return;
    polling = true;
    try {
      await refreshCrl();
      if (registry && !stopped) {
        try {
          const reader = await registry.client();
          const head = await reader.getBlockNumber({ cacheTime: 0 });
          if (stopped) return;
          if (head >= fromBlock) {
            const logs = await reader.getLogs({
              address: registry.address,
              events: [DEVICE_REGISTERED_EVENT, DEVICE_REVOKED_EVENT],
              fromBlock,
              toBlock: head,
            });
            for (const l of logs) {
              if (stopped) return;
              const dev = l.args.devId;
              if (typeof dev !== 'string') continue;
              if (l.eventName === 'DeviceRegistered') {
                // In chain order: a later revocation of this key still revokes it below.
                if (typeof l.args.spkiHash === 'string') devices.noteRegistered(dev, l.args.spkiHash);
                continue;
              }
              const row = store.getDevice(dev);
              if (!row || row.status === 'revoked') continue;
              // Only the key the registry revoked: a device re-enrolled since keeps its new key.
              const revoked = await registry.isKeyRevoked(row.spkiSha256 as `0x${string}`);
              if (stopped) return;
              if (revoked) {
                store.upsertDevice({ ...row, status: 'revoked' });
                devices.markRevoked(dev, 'registry');
              }
            }
            if (stopped) return;
            fromBlock = head + 1n;
          }
        } catch (err) {
          // After the stop (its calls aborted), a failure is no outage to tell.
          const code = await registry.codeOf(err);
          if (!stopped) log.warn('registry poll failed; will retry', { code });
        }
      }
    } finally {
      polling = false;
    }
  };

  const timer = setInterval(() => {
    void pollRevocations();
  }, opts.revocationPollMs ?? DEFAULT_REVOCATION_POLL_MS);
  timer.unref();

  return {
    devices,
    audit,
    brokerOptions: { ...(tls ? { tls } : {}), authenticatePeer, onSecurityEvent },
    attachBroker(b) {
      broker = b;
    },
    onReject(r, transportDev) {
      audit.append('frame_rejected', { dev: r.dev ?? transportDev, seq: seqForJson(r.seq), code: r.code });
    },
    pollRevocations,
    refreshCrl,
    ...(registry ? { isKeyRevoked: registry.isKeyRevoked } : {}),
    stop() {
      stopped = true;
      clearInterval(timer);
      // The events still buffered (`gateway_stopped` among them) must reach the file or the
      // stop fails with how many did not (`audit_write_failed`): a full disk, say.
      audit.closeOrThrow();
    },
  };
}
