/**
 * @module app/retention-steps
 * Crypto-shredding while the gateway runs (config `shredAfterDays`, option `shredAfterMs`;
 * io/ingest/retention): off unless configured. Each turn that destroys keys is one audit line
 * (`data_keys_shredded`, counts only) and one log line; the `vitaltrail_retention_*` metrics
 * count them. Stopped before the ingest closes, a turn under way ending first.
 */
import { RetentionShredder } from '../io/ingest/index.js';
import { code, type GatewayStep } from './gateway-parts.js';

export const retention: GatewayStep = {
  name: 'retention',
  start(p) {
    const opts = p.get('opts');
    if (opts.shredAfterMs === undefined) {
      p.set('retention', null);
      return;
    }
    const log = p.get('log');
    const audit = p.get('identity').audit;
    const retentionMs = opts.shredAfterMs;
    const shredder = new RetentionShredder({
      ingest: p.get('ingest'),
      store: p.get('store'),
      retentionMs,
      ...(opts.dataKeyWindowMs ? { windowMs: opts.dataKeyWindowMs } : {}),
      ...(opts.shredIntervalMs ? { intervalMs: opts.shredIntervalMs } : {}),
      onShred: (r, ms) => {
        const detail = `keys ${r.keys}, frames ${r.frames}, records ${r.records}, ciphertexts deleted ${r.deleted}, retention ${retentionMs} ms`;
        audit.append('data_keys_shredded', { detail });
        log.info('data keys shredded under retention', { ...r, ms: Math.round(ms) });
      },
      onError: (err) => log.warn('shredding failed; will retry', { code: code(err) }),
    });
    p.set('retention', shredder);
    shredder.start();
  },
  async stop(p) {
    await p.find('retention')?.stop();
  },
};
