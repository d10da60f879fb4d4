/**
 * @module app/ward-steps
 * The start steps of what the ward sees (app/gateway-steps): the dashboard accounts, alarms
 * and NEWS2, the admissions, the dashboard and its APIs, and the optional InfluxDB sink for
 * Grafana.
 */
import { join } from 'node:path';
import { AlarmService, LocalAlarmLedger } from '../io/clinical/index.js';
import {
  alarmRoutes,
  auditorRoutes,
  createDataRoutes,
  logRoutes,
  opsRoutes,
  startHttpServer,
  webhookRoutes,
} from '../io/http/index.js';
import { DisplayRegistry, ensureInitialAdmin, SqliteSessions } from '../io/identity/index.js';
import type { AuditEventType } from '../io/ops/index.js';
import { InfluxSink } from '../io/outbound/index.js';
import {
  openBindingBook,
  openUserDirectory,
  PgAlarms,
  PgAuditShipper,
  PgPatientSettings,
  PgPeers,
  PgSessions,
} from '../io/shared/index.js';
import { loadRecipientSecrets } from '../io/store/index.js';
import { code, type GatewayStep, publicHealthOf, readinessOf } from './gateway-parts.js';

/**
 * The dashboard accounts, one directory for every part that reads them (sign-in, the alarm
 * webhook, the PCD-05 listener): the group's shared PostgreSQL when `opts.shared` names one
 * (io/shared), else the data dir's users file. The first start of a group (or of a lone
 * gateway) creates `admin` with a generated password in this data dir's
 * `initial-admin-password` (io/identity `ensureInitialAdmin`); the other gateways see it.
 */
export const users: GatewayStep = {
  name: 'users',
  async start(p) {
    const { opts, log, paths } = p.pick('opts', 'log', 'paths');
    const dir = await openUserDirectory({ usersPath: paths.users, postgres: opts.shared?.postgres });
    try {
      await ensureInitialAdmin(dir.users, paths.initialAdminPassword);
    } catch (err) {
      await dir.close();
      throw err;
    }
    p.set('users', dir.users);
    p.set('closeUsers', dir.close);
    log.info('dashboard accounts', { store: dir.kind });
  },
  async stop(p) {
    await p.get('closeUsers')();
  },
};

/**
 * In a group, this gateway's audit log shipped into the group's one audit chain (io/shared
 * PgAuditShipper, table `ward_audit`: at each batch the log writes, and every second), from
 * right after the identity opens the log until every later step has stopped (its stop ships
 * their last lines). The file log stays the record. A lone gateway has none.
 */
export const groupAudit: GatewayStep = {
  name: 'groupAudit',
  async start(p) {
    const { opts, log, paths } = p.pick('opts', 'log', 'paths');
    const pg = opts.shared?.postgres;
    const shipper = pg
      ? await PgAuditShipper.open({
          ...pg,
          gatewayId: p.get('gatewayId'),
          dir: paths.gatewayDir,
          onError: (err) => log.warn('audit not shipped to the group; retrying', { code: code(err) }),
        })
      : null;
    const unwatch = shipper ? p.get('identity').audit.onWritten(() => shipper.nudge()) : () => {};
    p.set('closeAuditShipper', async () => {
      unwatch();
      await shipper?.close();
    });
  },
  async stop(p) {
    await p.get('closeAuditShipper')();
  },
};

/**
 * Alarms and NEWS2; signature failures and other rejections feed the technical alarms. In a
 * group (`opts.shared`) the alarms are decided once for all its gateways, in its PostgreSQL
 * (io/shared PgAlarms), and each transition audited by the one gateway that recorded it; the
 * per-patient settings and ACVPU entries are the group's (io/shared PgPatientSettings). A
 * lone gateway decides alike, in its data dir's store (io/clinical LocalAlarmLedger): its open
 * alarms, acknowledged ones included, are taken back at a restart (each foreign to its board, as
 * in a group, until its condition is seen again or 180 s pass: the filters start afresh).
 */
export const alarms: GatewayStep = {
  name: 'alarms',
  async start(p) {
    const { opts, log, identity: id, ingest: i } = p.pick('opts', 'log', 'identity', 'ingest');
    const pg = opts.shared?.postgres;
    const gatewayId = p.get('gatewayId');
    const ledger = pg
      ? await PgAlarms.open({ ...pg, gatewayId })
      : new LocalAlarmLedger({ store: p.get('store'), gatewayId });
    const settings = pg
      ? await PgPatientSettings.open({ ...pg, gatewayId }).catch(async (err) => {
          await ledger.close();
          throw err;
        })
      : null;
    p.set('closeAlarmLedger', async () => {
      await ledger.close();
      await settings?.close();
    });
    const a = p.set(
      'alarms',
      new AlarmService({
        store: p.get('store'),
        hub: p.get('hub'),
        storageHealthy: () => i.healthy,
        anchoring: () => p.get('anchorer')?.status() ?? null,
        throttledClients: () => p.find('broker')?.throttledClients() ?? 0,
        // Break-glass openings (app/care-steps, a later step): `break_glass_access` on the beds.
        scopedConditions: (now) => p.find('breakGlassAlarms')?.conditions(now) ?? new Map(),
        group: { ledger, gatewayId, alone: !pg, ...(settings ? { settings } : {}) },
        // The identity's device registry knows revocations (store, CRL, chain registry).
        deviceRevoked: (dev) => id.devices.lookup(dev)?.status === 'revoked',
        audit: (e) => {
          const event = e.type === 'alarm' ? (`alarm_${e.event}` as AuditEventType) : e.type;
          log.info('audit', { event, dev: e.dev, user: e.user });
          id.audit.append(event, {
            dev: e.dev,
            ...(e.user !== undefined ? { user: e.user } : {}),
            ...(e.type === 'alarm' ? { code: e.code, detail: `${e.priority} ${e.alarmId}` } : {}),
            ...(e.type === 'standby' ? { detail: `${e.on ? 'on' : 'off'} ${e.reason}` } : {}),
          });
        },
      }),
    );
    i.on('rejected', (r, transportDev, via) => a.recordReject(transportDev, r.code, via));
    try {
      await a.join();
    } catch (err) {
      a.stop();
      await p.get('closeAlarmLedger')();
      throw err;
    }
    if (pg) log.info('alarms decided by the group', { store: 'postgres' });
  },
  async stop(p) {
    p.get('alarms').stop();
    await p.get('closeAlarmLedger')();
  },
};

/**
 * The admissions, one book for every part that reads them (the data routes, the outbound
 * interfaces, the InfluxDB sink): the group's shared PostgreSQL when `opts.shared` names one
 * (io/shared), else the data dir's SQLite store. Every admission and discharge, made through
 * this gateway or another of the group, reaches this gateway once, through the book's
 * `onChange`: the tile is labelled with the bed (never the patient id) or unlabelled, and a
 * discharge puts the bed in standby (no alarms) until the next admission ends it.
 */
export const bindings: GatewayStep = {
  name: 'bindings',
  async start(p) {
    const {
      opts,
      log,
      paths,
      store: s,
      hub: h,
      alarms: a,
    } = p.pick('opts', 'log', 'paths', 'store', 'hub', 'alarms');
    const book = await openBindingBook({
      store: s,
      recipientsDir: paths.recipientsDir,
      secrets: loadRecipientSecrets(paths.recipientsDir),
      postgres: opts.shared?.postgres,
    });
    const unsubscribe = book.bindings.onChange((e) => {
      if (e.type === 'admission') {
        h.setLabel(e.dev, e.bed);
        a.admitted(e.dev, e.by);
      } else {
        h.setLabel(e.dev, null);
        a.discharged(e.dev, e.by ?? 'unknown');
      }
    });
    p.set('closeBindings', async () => {
      unsubscribe();
      await book.close();
    });
    try {
      for (const b of book.bindings.beds()) {
        h.setLabel(b.dev, b.bed);
        // Admitted on another gateway while this one was down: the discharge's standby ends
        // here too (as it would have by onChange), so the patient's alarms are not silenced.
        if (book.kind === 'postgres' && a.tileState(b.dev).standby?.reason === 'discharged')
          a.admitted(b.dev);
      }
    } catch (err) {
      await p.get('closeBindings')();
      throw err;
    }
    p.set('bindings', book.bindings);
    log.info('admissions', { store: book.kind });
  },
  async stop(p) {
    await p.get('closeBindings')();
  },
};

/** The ward dashboard, the APIs and the operations endpoints. */
export const http: GatewayStep = {
  name: 'http',
  async start(p) {
    const { opts, log, identity: id, store: s, hub: h } = p.pick('opts', 'log', 'identity', 'store', 'hub');
    const secrets = loadRecipientSecrets(p.get('paths').recipientsDir);
    const bindings = p.get('bindings');
    const users = p.get('users');
    const anchoring = () => p.get('anchorer')?.status() ?? null;
    // In a group, the sessions are the group's: a nurse signed in through one gateway is on all.
    // A lone gateway keeps them in its data dir (only their hashes): they outlive a restart.
    const pg = opts.shared?.postgres;
    const sharedSessions = pg ? await PgSessions.open(pg) : new SqliteSessions(s);
    log.info('dashboard sessions', { store: sharedSessions.kind });
    // In a group, a trend or raw history asks the other gateways too (registered once listening).
    let peers: PgPeers | null = null;
    const group = pg
      ? { gatewayId: p.get('gatewayId'), peers: { peers: async () => (await peers?.peers()) ?? [] } }
      : null;
    p.set('closeSharedSessions', async () => {
      await peers?.close();
      await sharedSessions.close(); // deletes nothing: a restart keeps the sessions
    });
    const started = startHttpServer({
      hub: h,
      // Nurses suspended on the chain show as disabled (app/care-steps, io/care ClinicianBar).
      users: p.find('clinicianBar')?.wrap(users) ?? users,
      displays: new DisplayRegistry(s),
      host: opts.http?.host ?? '127.0.0.1',
      port: opts.http?.port ?? 0,
      // HTTPS on the one listener: the dashboard, wss, /livez, /readyz and /metrics.
      ...(opts.http?.tls ? { tls: opts.http.tls } : {}),
      ...(opts.http?.secureCookies !== undefined ? { secureCookies: opts.http.secureCookies } : {}),
      ...(opts.http?.passwordThreads !== undefined ? { passwordThreads: opts.http.passwordThreads } : {}),
      ...(opts.http?.passwordQueue !== undefined ? { passwordQueue: opts.http.passwordQueue } : {}),
      sharedSessions,
      // A download or live socket the client stopped taking (a laptop asleep) is dropped.
      onDropped: (d) => log.warn('http client not reading; connection closed', { ...d }),
      staticDir: p.get('staticDir'),
      ...(opts.wardName ? { wardName: opts.wardName } : {}),
      ...(opts.wardClock ? { wardClock: opts.wardClock } : {}),
      // Public: words only (core/health), no log size, device count or anchoring figures
      // (they tell an outsider the ward's activity); those are behind /anchoring (admin,
      // auditor) and /metrics.
      status: () => ({ gateway: p.get('gatewayId'), ...publicHealthOf(p) }),
      audit: (e) => {
        const remote = 'remote' in e ? e.remote : undefined;
        log.info('audit', { event: e.type, user: e.username, ...(remote !== undefined ? { remote } : {}) });
        id.audit.append(e.type, {
          user: e.username,
          ...(remote !== undefined ? { remote } : {}),
          ...('detail' in e ? { detail: e.detail } : {}),
        });
      },
      liveExtras: p.get('alarms'),
      ...(p.find('wardView') ? { onWardView: p.get('wardView') } : {}),
      routes: [
        alarmRoutes({
          alarms: p.get('alarms'),
          hub: h,
          ...(p.find('wardAccess') ? { onView: p.get('wardAccess') } : {}),
        }),
        webhookRoutes({
          alarms: p.get('alarms'),
          user: (u) => users.get(u),
          ...(opts.outbound?.webhook ? { secret: opts.outbound.webhook.secret } : {}),
        }),
        logRoutes({ store: s, notes: p.get('notes'), anchoring }),
        auditorRoutes(),
        opsRoutes({
          metrics: p.get('metrics'),
          readiness: () => readinessOf(p),
          ...(opts.metricsToken ? { token: opts.metricsToken } : {}),
        }),
        // Doctors and patients (app/care-steps; absent in a test that starts without it).
        ...(p.find('careRoutes') ? [p.get('careRoutes')] : []),
        createDataRoutes({
          store: s,
          bindings,
          secrets,
          ...(opts.http?.maxReadings !== undefined ? { maxReadings: opts.http.maxReadings } : {}),
          ...(group ? { group } : {}),
          ...(p.find('wardAccess') ? { onAccess: p.get('wardAccess') } : {}),
          hub: h,
          // Admissions and discharges reach the alarm service through the book (the bindings step).
          onAudit: (e) => {
            log.info('audit', { event: e.type, user: e.username, dev: e.dev, route: e.route });
            id.audit.append(e.type, {
              user: e.username,
              ...(e.dev !== undefined ? { dev: e.dev } : {}),
              detail: e.route,
            });
          },
        }),
      ],
    });
    try {
      const server = p.set('http', await started);
      if (pg)
        peers = p.set(
          'groupPeers', // the care routes ask the group too (app/care-steps)
          await PgPeers.open({
            ...pg,
            gatewayId: p.get('gatewayId'),
            peerUrl: opts.shared?.peerUrl ?? server.url,
          }),
        );
    } catch (err) {
      await p.find('http')?.close();
      await p.get('closeSharedSessions')();
      throw err;
    }
  },
  async stop(p) {
    await p.get('http').close();
    await p.get('closeSharedSessions')();
  },
};

/** Readings to InfluxDB for Grafana (ARCHITECTURE.md: production sink), off by default. */
export const influx: GatewayStep = {
  name: 'influx',
  start(p) {
    const opts = p.get('opts');
    const refreshers = p.get('onDeviceRefresh');
    if (!opts.influx) {
      p.set('influx', null);
      return;
    }
    const log = p.get('log');
    const bindings = p.get('bindings');
    const sink = p.set(
      'influx',
      new InfluxSink({
        ...opts.influx,
        recipients: p.get('recipients'),
        spillFile: join(p.get('paths').gatewayDir, 'influx-spill.jwe'),
        onAlarm: (a) => log.warn('influx sink', { state: a }),
      }),
    );
    // Beds are the sink's only patient-side tag: kept by every admission and discharge of the
    // group (the book's onChange), and re-read with the device refresh.
    let beds = new Map(bindings.beds().map((b) => [b.dev, b.bed]));
    const reread = (): void => {
      beds = new Map(bindings.beds().map((b) => [b.dev, b.bed]));
    };
    refreshers.push(reread);
    const unsubscribeBeds = bindings.onChange(reread);
    const self = p.get('gatewayId');
    const unsubscribe = p.get('hub').subscribe((r) => {
      // The hub hears every gateway's readings (the live stream); each gateway writes its own.
      if (r.origin !== undefined && r.origin !== self) return;
      const bed = beds.get(r.dev);
      sink.write({
        dev: r.dev,
        ts: r.ts,
        obs: r.obs,
        ...(bed ? { bed } : {}),
        ...(r.bat !== undefined ? { bat: r.bat } : {}),
      });
    });
    p.set('influxUnsubscribe', () => {
      unsubscribe();
      unsubscribeBeds();
    });
  },
  async stop(p) {
    const sink = p.get('influx');
    if (!sink) return;
    p.get('influxUnsubscribe')();
    await sink.close();
  },
};
