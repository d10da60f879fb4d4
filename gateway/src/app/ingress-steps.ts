/**
 * @module app/ingress-steps
 * The start steps that let frames in (app/gateway-steps): devices enrolled elsewhere, the
 * MQTT side (embedded broker or external-broker client), and serial lines.
 */
import { createEnrolmentFollower } from '../io/identity/index.js';
import {
  LiveStream,
  mqttLink,
  startEmbeddedBroker,
  startExternalIngest,
  startSerialIngest,
} from '../io/transport/index.js';
import { code, type GatewayStep } from './gateway-parts.js';

/** Devices the KGC enrolled elsewhere (config `kgc.issuedDir`): known before the first frame. */
export const follower: GatewayStep = {
  name: 'enrolment-follower',
  async start(p) {
    const opts = p.get('opts');
    if (opts.kgcIssuedDir === undefined) {
      p.set('follower', null);
      return;
    }
    const id = p.get('identity');
    const m = p.get('metrics');
    const h = p.get('hub');
    const f = p.set(
      'follower',
      createEnrolmentFollower({
        dir: opts.kgcIssuedDir,
        devices: id.devices,
        log: p.get('log'),
        ...(id.isKeyRevoked ? { isKeyRevoked: id.isKeyRevoked } : {}),
        ...(opts.enrolmentPollMs ? { intervalMs: opts.enrolmentPollMs } : {}),
        onImported: (dev, replaced) => {
          h.addDevice(dev);
          m.enrolmentsImported.inc();
          id.audit.append('device_enrolled', {
            dev,
            source: 'kgc_issued_dir',
            ...(replaced ? { detail: 're-enrolment' } : {}),
          });
        },
        onSkipped: (c) => m.enrolmentsSkipped.inc({ code: c }),
      }),
    );
    await id.refreshCrl(); // a serial on the CRL is never imported, not even for a moment
    await f.scan();
    f.start();
  },
  stop(p) {
    p.get('follower')?.stop();
  },
};

/** The MQTT side: the embedded broker, or a client of the external broker. */
export const transport: GatewayStep = {
  name: 'transport',
  async start(p) {
    const { opts, log, ingest: i, identity: id } = p.pick('opts', 'log', 'ingest', 'identity');
    const gatewayId = p.get('gatewayId');
    const onMalformed = (reason: string) => log.warn('live stream message dropped', { reason });
    if (opts.externalBroker) {
      p.set('broker', null);
      // The stream first, so the first frame the lanes commit already reaches every gateway.
      const { url, clientId, clientOptions, connectTimeoutMs, keepaliveSeconds, closeTimeoutMs } =
        opts.externalBroker;
      const link = await mqttLink({
        url,
        clientId: `${clientId}-live`,
        ...(clientOptions ? { clientOptions } : {}),
        ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
        ...(keepaliveSeconds !== undefined ? { keepaliveSeconds } : {}),
        ...(closeTimeoutMs !== undefined ? { closeTimeoutMs } : {}),
        onLinkError: (err) => log.warn('live stream link', { code: code(err) }),
      });
      p.set('liveStream', await LiveStream.start({ link, hub: p.get('hub'), gatewayId, onMalformed }));
      const external = p.set(
        'external',
        await startExternalIngest({
          ...opts.externalBroker,
          ingest: i,
          onLinkError: (lane, err) => log.warn('external broker link', { lane, code: code(err) }),
        }),
      );
      i.on('rejected', (r, transportDev) => external.sendReject(transportDev, r));
      return;
    }
    p.set('external', null);
    const broker = p.set(
      'broker',
      await startEmbeddedBroker({
        ingest: i,
        host: opts.mqtt?.host ?? '127.0.0.1',
        port: opts.mqtt?.port ?? 0,
        ...id.brokerOptions,
        ...(opts.mqttPlain === false ? { plain: false } : {}),
        ...(opts.mqttLimits ? { limits: opts.mqttLimits } : {}),
      }),
    );
    // No other gateway can hear this broker's stream (its edge forwards devices only their
    // own acks and rejects), so the ward is fed directly, in commit order (app/core-steps):
    // a loopback through aedes cost ~6 % of the event loop at 5,000 frames/s.
    i.on('rejected', (r, transportDev) => broker.sendReject(transportDev, r));
    id.attachBroker(broker);
  },
  async stop(p) {
    await p.find('external')?.close();
    await p.find('liveStream')?.close();
    await p.find('broker')?.close();
  },
};

/** Serial lines, each bound to the device(s) allowed on it. */
export const serial: GatewayStep = {
  name: 'serial',
  start(p) {
    const ports = p.get('opts').serial;
    const log = p.get('log');
    p.set(
      'serial',
      ports?.length
        ? startSerialIngest({
            ingest: p.get('ingest'),
            ports,
            onState: (port, state) =>
              (state === 'open' ? log.info : log.warn)('serial port', { port, state }),
          })
        : null,
    );
  },
  async stop(p) {
    await p.get('serial')?.close();
  },
};
