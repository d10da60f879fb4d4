/**
 * @module app/core-steps
 * The gateway's core start steps (app/gateway-steps): data directory, store, identity, live hub,
 * ingest, metrics, checkpoints and anchoring, the drain at stop, the device refresh.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createViemLedger } from '../../../anchor/src/ledger/index.js';
import { LiveHub } from '../core/live.js';
import { checkpointOrigin, logIdOf } from '../core/log-names.js';
import {
  Anchorer,
  ChainCalls,
  Checkpointer,
  CheckpointNotes,
  DEFAULT_FIRST_CONTACT_MS,
  ledgerMarkOf,
  loadCheckpointSigner,
  recordLedger,
} from '../io/anchoring/index.js';
import { createIdentity } from '../io/identity/index.js';
import { Ingest } from '../io/ingest/index.js';
import { type AlarmBacklogOf, AlarmSource, deliveryStatus } from '../io/interfaces/index.js';
import {
  DEFAULT_AUDIT_ROTATE_BYTES,
  dataPaths,
  GatewayMetrics,
  isDirectory,
  lockDataDir,
  sweepStaleTemps,
} from '../io/ops/index.js';
import { freeBytes, loadRecipients, openStore, watchRecipients } from '../io/store/index.js';
import { DEFAULT_VERIFY_NICE, type VerifyPoolOptions } from '../io/verify/index.js';
import { VitalTrailError } from '../protocol/errors.js';
import { seqForJson } from '../protocol/frame.js';
import { code, type GatewayParts, type GatewayStep, readinessOf } from './gateway-parts.js';
import { DEFAULT_CHECKPOINT_INTERVAL_MS, DEFAULT_GATEWAY_ID, DEFAULT_RETENTION_MS } from './options.js';

/** The data directory holds a KGC root and recipients; the gateway's ids. */
export const layout: GatewayStep = {
  name: 'layout',
  start(p) {
    const opts = p.get('opts');
    const paths = p.set('paths', dataPaths(opts.dataDir));
    if (!existsSync(paths.kgcRootCert)) {
      throw new VitalTrailError(
        'config_invalid',
        'no KGC root certificate in the data directory: run `vitaltrail kgc init`',
      );
    }
    if (opts.kgcIssuedDir !== undefined && !isDirectory(opts.kgcIssuedDir)) {
      throw new VitalTrailError('config_invalid', 'kgc.issuedDir is not a directory');
    }
    const recipients = p.set('recipients', loadRecipients(paths.recipientsDir));
    if (recipients.length === 0) {
      throw new VitalTrailError('config_invalid', 'no envelope recipients (gateway/recipients/*.pub.pem)');
    }
    const gatewayId = p.set('gatewayId', opts.gatewayId ?? DEFAULT_GATEWAY_ID);
    const origin = p.set('origin', checkpointOrigin(gatewayId));
    p.set('logId', logIdOf(origin));
  },
};

/**
 * One running gateway per data directory (io/ops/instance-lock), unless the caller holds the
 * lock; then what a process killed mid-write left beside the secret and state files goes.
 */
export const instanceLock: GatewayStep = {
  name: 'instance-lock',
  start(p) {
    const [held, paths] = [p.get('opts').dataDirLock, p.get('paths')];
    p.set('ownLock', held ? null : lockDataDir(paths.gatewayDir));
    for (const dir of [paths.gatewayDir, paths.recipientsDir, paths.chainDir]) {
      const removed = sweepStaleTemps(dir);
      if (removed.length > 0)
        p.get('log').warn('removed files left by a write that was killed', { dir, removed });
    }
  },
  stop(p) {
    p.get('ownLock')?.release();
  },
};

/** The durable store, which must belong to this gateway id. */
export const store: GatewayStep = {
  name: 'store',
  start(p) {
    const s = openStore(p.get('paths').db);
    const storedOrigin = s.getMeta('origin');
    if (storedOrigin === undefined) s.setMeta('origin', p.get('origin'));
    else if (storedOrigin !== p.get('origin')) {
      s.close();
      throw new VitalTrailError('config_invalid', 'this data directory belongs to another gateway id');
    }
    p.set('store', s);
  },
  stop(p) {
    p.get('store').close();
  },
};

/**
 * Every call to the chain (io/anchoring/chain-calls): the gateway's stop (app/gateway) gives
 * them `ledger.stopTimeoutMs`, then aborts them; this step's stop, after the anchorers' last
 * flush and the identity's, aborts whatever is left before the store closes, so no chain call
 * outlives the stop.
 */
export const chainCalls: GatewayStep = {
  name: 'chain-calls',
  start(p) {
    p.set('chainCalls', new ChainCalls());
  },
  stop(p) {
    p.get('chainCalls').abort();
  },
};

/**
 * How long the start waits for the first read of the chain registry's device events (issue
 * 17: which keys are registered); past it, the gateway starts on what its store recorded and
 * the poll goes on in the background (a chain outage must not stop ingest).
 */
const FIRST_REGISTRY_READ_MS = 3000;

/**
 * In a group the webhook's backlog is the transitions this gateway recorded in the group's
 * ledger (io/interfaces `AlarmSource.backlog`); a lone gateway's is its store's (the default).
 */
function groupAlarmBacklog(p: GatewayParts): AlarmBacklogOf | undefined {
  const alarms = p.find('alarms');
  if (!p.get('opts').shared?.postgres || !alarms) return undefined;
  const feed = new AlarmSource(alarms, null, false, p.get('gatewayId'));
  return (from) => feed.backlog(from);
}

/** Device identity, revocation and registration, and the audit log. */
export const identity: GatewayStep = {
  name: 'identity',
  async start(p) {
    const opts = p.get('opts');
    const id = createIdentity({
      paths: p.get('paths'),
      store: p.get('store'),
      log: p.get('log'),
      ...(opts.mqtts ? { mqtts: opts.mqtts } : {}),
      ...(opts.ledger
        ? {
            chain: {
              rpcUrl: opts.ledger.rpcUrl,
              deployment: opts.ledger.deployment,
              signal: p.get('chainCalls').signal,
            },
          }
        : {}),
      ...(opts.revocationPollMs ? { revocationPollMs: opts.revocationPollMs } : {}),
      auditRotateBytes: opts.auditRotateBytes ?? DEFAULT_AUDIT_ROTATE_BYTES,
    });
    p.set('identity', id);
    // Every enrolled device read in slices while the start goes on and frames are answered
    // (a chain check each: 10,000 devices held the start 7.7 s in one go); a device whose
    // frame comes before its turn is read then, by its lookup.
    id.devices
      .refreshInSlices()
      .catch((err: unknown) => p.get('log').warn('device refresh failed', { code: code(err) }));
    if (opts.ledger) {
      let timer: NodeJS.Timeout | undefined;
      const answered = await Promise.race([
        id.pollRevocations().then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), opts.ledger?.firstContactMs ?? FIRST_REGISTRY_READ_MS);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
      if (!answered) p.get('chainCalls').noteUnanswered(); // the start's later first reads do not wait
    }
  },
  stop(p) {
    const id = p.get('identity');
    id.devices.stopRefreshing();
    id.audit.append('gateway_stopped', { detail: p.get('gatewayId') });
    id.stop();
  },
};

/** The live hub of readings, knowing every enrolled device. */
export const hub: GatewayStep = {
  name: 'hub',
  start(p) {
    const h = p.set('hub', new LiveHub());
    p.set('onDeviceRefresh', []);
    for (const d of p.get('store').devices()) h.addDevice(d.dev);
  },
};

/**
 * The verify pool's threads: `verifyThreads` unset, one per core (at most 4; none on one
 * core) run while the load asks for them (README "Benchmarks": at low load the event loop
 * answers sooner alone, at high load the threads add capacity); a number, that many always.
 */
export function verifyThreadsOf(threads: number | undefined): Pick<VerifyPoolOptions, 'threads' | 'start'> {
  if (threads !== undefined) return { threads };
  const cores = availableParallelism();
  return { threads: cores > 1 ? Math.min(4, cores) : 0, start: 'on-load' };
}

/** The ingest pipeline; every rejection goes to the audit log. */
export const ingest: GatewayStep = {
  name: 'ingest',
  start(p) {
    const devices = p.get('identity').devices;
    const i = p.set(
      'ingest',
      new Ingest({
        store: p.get('store'),
        lookup: (dev) => devices.lookup(dev),
        recipients: watchRecipients(p.get('paths').recipientsDir),
        policy: { retentionMs: p.get('opts').retentionMs ?? DEFAULT_RETENTION_MS },
        ...(p.get('opts').dataKeyWindowMs ? { dataKeys: { windowMs: p.get('opts').dataKeyWindowMs } } : {}),
        // The readings of each commit go out on the internal live stream once it runs (the
        // transport step starts it before the first frame can commit), else to the hub itself.
        live: { publishAll: (rs) => (p.find('liveStream') ?? p.get('hub')).publishAll(rs) },
        verify: {
          ...verifyThreadsOf(p.get('opts').verifyThreads),
          nice: p.get('opts').verifyNice ?? DEFAULT_VERIFY_NICE,
          log: p.get('log'),
        },
      }),
    );
    const log = p.get('log');
    const id = p.get('identity');
    // Told once when commits start failing (a full disk: no frame is acknowledged meanwhile)
    // and once when they succeed again, so the operator's log says what the dashboard shows.
    i.on('storage', (h) => {
      if (h.ok)
        log.warn('store writable again; frames are acknowledged'); // seen wherever the failure was
      else log.error('store write failed; no frame is acknowledged until it succeeds', h);
    });
    i.on('rejected', (r, transportDev) => {
      // The audit log is the record of every rejection; the operational log carries them
      // only at debug level, so a flood of bad frames is not written twice.
      log.debug('frame rejected', { dev: transportDev, seq: seqForJson(r.seq), code: r.code });
      id.onReject(r, transportDev);
    });
  },
  async stop(p) {
    // After `drain` (stopped before): nothing is in flight; the verify threads end here.
    await p.get('ingest').close();
  },
};

/** The metric registry, counting every outcome. */
export const metrics: GatewayStep = {
  name: 'metrics',
  start(p) {
    const hubOf = p.get('hub');
    const i = p.get('ingest');
    const store = p.get('store');
    const activeDevices = (): number =>
      hubOf.snapshot().filter((t) => t.last !== null && Date.now() - t.last.receivedAt < 60_000).length;
    const m = new GatewayMetrics({
      store,
      dbPath: p.get('paths').db,
      freeBytes: () => freeBytes(store.db),
      connectedDevices: () => p.find('broker')?.connectedClients() ?? activeDevices(),
      pipeline: () => i.pipeline,
      dataKeys: () => i.dataKeys,
      liveStream: () => p.find('liveStream')?.stats() ?? null,
      retention: () => p.find('retention')?.stats ?? null,
      ready: () => readinessOf(p).ready,
      // The receivers this gateway runs (the outbound step, later), not every cursor the store keeps.
      outbound: async () => {
        const running = new Set((p.find('outbound') ?? []).map((w) => w.name));
        if (running.size === 0) return [];
        return (await deliveryStatus(store, Date.now(), groupAlarmBacklog(p))).filter((s) =>
          running.has(s.receiver),
        );
      },
    });
    m.observe(i);
    p.set('metrics', m);
  },
};

/**
 * Signed checkpoints, and the anchorer when a ledger is configured (started later). Without
 * a ledger the checkpointer (io/anchoring/checkpointer) cuts the same signed checkpoints into
 * the outbox, where they wait for the first start with a ledger; health says anchoring `off`.
 */
export const anchorer: GatewayStep = {
  name: 'anchorer',
  start(p) {
    const opts = p.get('opts');
    const log = p.get('log');
    const notes = p.set('notes', new CheckpointNotes(p.get('store')));
    const signer = p.set('signer', loadCheckpointSigner(p.get('paths'), p.get('origin')));
    const intervalMs = opts.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    recordLedger(p.get('store'), opts.ledger ? opts.ledger.deployment.anchors : null);
    if (!opts.ledger) {
      p.set('anchorer', null);
      p.set(
        'checkpointer',
        new Checkpointer({
          store: p.get('store'),
          notes,
          signer,
          intervalMs,
          onError: (err) => log.warn('checkpoint failed; will retry', { code: code(err) }),
        }),
      );
      return;
    }
    p.set('checkpointer', null);
    const ledger = createViemLedger({
      rpcUrl: opts.ledger.rpcUrl,
      deployment: opts.ledger.deployment,
      privateKey: opts.ledger.privateKey,
      ...(opts.ledger.confirmations !== undefined ? { confirmations: opts.ledger.confirmations } : {}),
      signal: p.get('chainCalls').signal,
    });
    p.set(
      'anchorer',
      new Anchorer({
        store: p.get('store'),
        ledger,
        logId: p.get('logId'),
        intervalMs,
        notes,
        signer,
        marks: { meta: p.get('store'), ledger: ledgerMarkOf(opts.ledger.deployment) },
        ...(opts.ledger.maxBackoffMs !== undefined ? { maxBackoffMs: opts.ledger.maxBackoffMs } : {}),
        ...(opts.ledger.firstContactMs !== undefined ? { firstContactMs: opts.ledger.firstContactMs } : {}),
        onError: (err) => log.warn('anchoring failed; will retry', { code: code(err) }),
      }),
    );
  },
  async stop(p) {
    p.find('checkpointer')?.stop(); // its last checkpoint holds every frame answered
    const a = p.get('anchorer');
    if (!a) return;
    await a.flush(); // the last checkpoint holds every frame answered (see `drain`)
    await a.stop();
  },
};

/** At stop, after the transports closed: every frame in flight is answered before the last checkpoint. */
export const drain: GatewayStep = {
  name: 'drain',
  start() {},
  async stop(p) {
    await p.get('ingest').drain();
  },
};

/**
 * Reconciles the outbox with the chain and starts the anchoring timer (devices are already
 * served); without a ledger, starts the checkpoint timer.
 */
export const anchoring: GatewayStep = {
  name: 'anchoring',
  async start(p) {
    p.find('checkpointer')?.start();
    // The access log's (app/care-steps `accessLog`; issue 18) beside the readings' (their own
    // accounts and logs): a chain that does not answer holds the start one `firstContactMs`.
    p.find('access')?.checkpointer?.start();
    const ms = p
      .get('chainCalls')
      .firstWaitMs(p.get('opts').ledger?.firstContactMs ?? DEFAULT_FIRST_CONTACT_MS);
    await Promise.all([p.get('anchorer')?.start(ms), p.find('access')?.anchorer?.start(ms)]);
  },
};

/**
 * The embedded chain's watchdog (io/anchoring/chain-watchdog), when the caller runs one: its
 * events are logged and counted, and the anchorer resyncs (reconcile first, fresh nonce) when
 * the node goes down and again when it is back, so anchoring resumes without a gateway restart.
 */
export const chainWatch: GatewayStep = {
  name: 'chain-watch',
  start(p) {
    const watch = p.get('opts').chainWatch;
    if (!watch) return;
    const { log, metrics: m } = p.pick('log', 'metrics');
    const anchorer = p.get('anchorer');
    const onDown = (e: { pid: number; exit: string; retryInMs: number }) => {
      // Every round from now on reconciles first: the next node may lack the last blocks,
      // and a checkpoint sent to it before the reconcile could overtake a lost anchor.
      anchorer?.resync();
      p.find('access')?.anchorer?.resync();
      log.warn('embedded chain exited; restarting it', {
        pid: e.pid,
        exit: e.exit,
        retryInMs: Math.round(e.retryInMs),
      });
    };
    const onRestarted = (e: { pid: number; downMs: number; deployed: boolean; sameContracts: boolean }) => {
      m.chainRestarts.inc({ outcome: 'restarted' });
      anchorer?.resync();
      p.find('access')?.anchorer?.resync();
      log.warn('embedded chain restarted; anchoring resumes', {
        pid: e.pid,
        downMs: Math.round(e.downMs),
        deployed: e.deployed,
      });
      if (!e.sameContracts) {
        // The ledger client still names the old addresses: only a new start can pick the new ones.
        log.error('embedded chain lost its contracts; restart the gateway to anchor again', {
          code: 'contract_missing',
        });
      }
    };
    const onFailed = (e: { code: string; retryInMs: number }) => {
      m.chainRestarts.inc({ outcome: 'failed' });
      log.warn('embedded chain restart failed; will retry', {
        code: e.code,
        retryInMs: Math.round(e.retryInMs),
      });
    };
    watch.on('down', onDown);
    watch.on('restarted', onRestarted);
    watch.on('restart_failed', onFailed);
    p.set('chainWatchUnsubscribe', () => {
      watch.off('down', onDown);
      watch.off('restarted', onRestarted);
      watch.off('restart_failed', onFailed);
    });
  },
  stop(p) {
    p.find('chainWatchUnsubscribe')?.();
  },
};

/**
 * Re-reads enrolments and revocations from the store (and the sink's beds) every few
 * seconds, in slices (io/identity/devices `refreshInSlices`): frames keep flowing while a
 * big enrolment is read. A tick that finds the last refresh still under way waits for the next.
 */
export const deviceRefresh: GatewayStep = {
  name: 'device-refresh',
  start(p) {
    const { hub: h, log, onDeviceRefresh: refreshers } = p.pick('hub', 'log', 'onDeviceRefresh');
    const devices = p.get('identity').devices;
    let running = false;
    const t = setInterval(() => {
      if (running) return;
      running = true;
      devices
        .refreshInSlices()
        .then((complete) => {
          if (!complete) return; // stopped
          for (const dev of devices.known()) h.addDevice(dev);
          for (const r of refreshers) r();
        })
        .catch((err: unknown) => log.warn('device refresh failed', { code: code(err) }))
        .finally(() => {
          running = false;
        });
    }, p.get('opts').deviceRefreshMs ?? 2000);
    t.unref();
    p.set('refreshTimer', t);
  },
  stop(p) {
    clearInterval(p.get('refreshTimer'));
    p.get('identity').devices.stopRefreshing();
  },
};

/** The audit line and the log line of a started gateway. */
export const announce: GatewayStep = {
  name: 'announce',
  start(p) {
    const broker = p.get('broker');
    const external = p.get('external');
    const gatewayId = p.get('gatewayId');
    p.get('identity').audit.append('gateway_started', {
      detail: `${gatewayId} mqtt=${broker?.url ?? external?.url ?? '-'} mqtts=${broker?.tlsUrl ?? '-'}`,
    });
    p.get('log').info('gateway started', {
      gateway: gatewayId,
      mqtt: broker?.url ?? external?.url,
      mqtts: broker?.tlsUrl,
      http: p.get('http').url,
      logSize: p.get('store').size,
    });
  },
};
