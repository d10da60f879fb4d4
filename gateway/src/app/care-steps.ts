/**
 * @module app/care-steps
 * Patients and doctors (issue 18). `accessLog` (after the readings' anchorer): the access log,
 * a second transparency log with its own checkpoints and ledger account (io/access), its
 * checkpointer or anchorer started by the anchoring step and flushed at stop. `care` (before
 * the dashboard): the index of patients' pseudonyms
 * (io/care `PatientIndex`, keyed by the data dir's pseudonym key, made at the first start)
 * and, when the ledger names a consent contract, the gateway's copy of the consents and
 * doctors on the chain (io/care `ConsentBook`, read-only: the gateway writes no consent here).
 * They make the care routes (io/http/routes/care/care-routes) the http step serves; every access
 * through them is appended to the access log before it is answered (an append that fails
 * refuses the answer: nothing is served unlogged) and audited. The ward team's readings and
 * trends (the data routes) are appended too (`wardAccess`, basis `ward`), one entry per patient
 * bound to the device within the range (`patient_data_view`, the basis in `detail`), every refusal too
 * (`care_access_refused`, the code).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Hex } from 'viem';
import { createConsentClient } from '../../../anchor/src/consent/index.js';
import { PSEUDONYM_KEY_BYTES } from '../core/pseudonym.js';
import { createAccessAnchoring } from '../io/access/index.js';
import { consentAccountKeyPath, DEFAULT_FIRST_CONTACT_MS, ensureAccountKey } from '../io/anchoring/index.js';
import {
  BreakGlassAlarms,
  BreakGlassBook,
  ClinicianBar,
  ConsentBook,
  PatientIndex,
  PatientKeys,
} from '../io/care/index.js';
import {
  type CareRoutesOptions,
  careBreakGlassRoutes,
  careConsentRoutes,
  careExportRoutes,
  carePageRoutes,
  careRoutes,
  defaultDownloadSlots,
  type HttpRoutes,
} from '../io/http/index.js';
import { keyFile } from '../io/ops/index.js';
import { loadRecipientSecrets } from '../io/store/index.js';
import { code, type GatewayStep } from './gateway-parts.js';
import { DEFAULT_CHECKPOINT_INTERVAL_MS } from './options.js';

export const accessLog: GatewayStep = {
  name: 'accessLog',
  start(p) {
    const { opts, log, paths, store } = p.pick('opts', 'log', 'paths', 'store');
    const l = opts.ledger;
    p.set(
      'access',
      createAccessAnchoring({
        store,
        paths,
        gatewayId: p.get('gatewayId'),
        intervalMs: opts.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
        ...(l
          ? {
              ledger: {
                rpcUrl: l.rpcUrl,
                deployment: l.deployment,
                ...(l.confirmations !== undefined ? { confirmations: l.confirmations } : {}),
                ...(l.maxBackoffMs !== undefined ? { maxBackoffMs: l.maxBackoffMs } : {}),
                ...(l.firstContactMs !== undefined ? { firstContactMs: l.firstContactMs } : {}),
                signal: p.get('chainCalls').signal,
              },
            }
          : {}),
        onError: (err) =>
          log.warn('access log: checkpoint or anchoring failed; will retry', { code: code(err) }),
      }),
    );
  },
  async stop(p) {
    const a = p.get('access');
    a.checkpointer?.stop(); // its last checkpoint holds every access answered
    if (!a.anchorer) return;
    await a.anchorer.flush();
    await a.anchorer.stop();
  },
};

export const care: GatewayStep = {
  name: 'care',
  async start(p) {
    const { opts, log, paths, identity: id } = p.pick('opts', 'log', 'paths', 'identity');
    const patients = new PatientIndex(p.get('bindings'), keyFile(paths.pseudonymKey, PSEUDONYM_KEY_BYTES));
    const ledger = opts.ledger;
    const chain = p.get('chainCalls');
    // One read-only client of the consent contract: the consents' copy and the nurses' bar.
    const reader =
      ledger?.deployment.consent !== undefined
        ? createConsentClient({ rpcUrl: ledger.rpcUrl, deployment: ledger.deployment, signal: chain.signal })
        : null;
    const consents =
      reader !== null
        ? await ConsentBook.open({
            source: reader,
            ...(opts.consentRefreshMs !== undefined ? { refreshMs: opts.consentRefreshMs } : {}),
            firstReadMs: chain.firstWaitMs(ledger?.firstContactMs ?? DEFAULT_FIRST_CONTACT_MS),
            // Not after the stop aborted the chain's calls: a read it ended is no outage.
            onError: (err) =>
              chain.aborted || log.warn('consents on the chain not read; retrying', { code: code(err) }),
          })
        : null;
    // Nurses with a clinician id: barred while the chain says they are suspended (io/care
    // ClinicianBar); the dashboard's directory is the bar's view of the accounts (app/ward-steps).
    const bar =
      reader !== null
        ? await ClinicianBar.open({
            users: p.get('users'),
            source: reader,
            ...(opts.consentRefreshMs !== undefined ? { refreshMs: opts.consentRefreshMs } : {}),
            firstReadMs: chain.firstWaitMs(ledger?.firstContactMs ?? DEFAULT_FIRST_CONTACT_MS),
            onError: (err) =>
              chain.aborted || log.warn('clinicians on the chain not read; retrying', { code: code(err) }),
            onChange: (username, barred) =>
              id.audit.append(barred ? 'clinician_barred' : 'clinician_cleared', {
                user: username,
                detail: barred
                  ? 'suspended or not a nurse in the consent contract'
                  : 'a nurse in force again',
              }),
          })
        : null;
    if (bar) p.set('clinicianBar', bar);
    // The relay of the patients' signed grants (its own account, funded on the embedded chain),
    // and the registration authority when this data dir holds one (the embedded chain's KGC).
    const hasConsent = ledger?.deployment.consent !== undefined;
    const relay =
      ledger && hasConsent
        ? createConsentClient({
            rpcUrl: ledger.rpcUrl,
            deployment: ledger.deployment,
            privateKey: ensureAccountKey(consentAccountKeyPath(paths)),
          })
        : null;
    const registrar =
      ledger && hasConsent && existsSync(paths.kgcAccountKey)
        ? createConsentClient({
            rpcUrl: ledger.rpcUrl,
            deployment: ledger.deployment,
            privateKey: readFileSync(paths.kgcAccountKey, 'utf8').trim() as Hex,
          })
        : null;
    log.info('care', {
      consents: consents ? 'chain' : 'none',
      relay: relay?.account ?? 'none',
      registrar: registrar ? 'kgc' : 'none',
    });
    // The ward team's readings, trends and patient views (io/http data and alarm routes), in
    // the access log too: one entry per patient bound to the device within the range, the
    // range cut to the binding.
    const access = p.get('access');
    p.set('wardAccess', async (a) => {
      for (const b of await p.get('bindings').history(a.dev)) {
        const dataFrom = Math.max(a.from, b.from);
        const dataUntil = Math.min(a.to, b.to ?? a.to);
        if (dataFrom > dataUntil) continue;
        access.log.append({
          v: 1,
          at: Date.now(),
          gateway: p.get('gatewayId'),
          actor: a.username,
          role: a.role as 'nurse' | 'charge_nurse' | 'admin',
          patient: patients.pseudonymOf(b.patientId),
          dev: a.dev,
          action: a.action,
          dataFrom,
          dataUntil,
          basis: { type: 'ward' },
        });
      }
    });
    // A look at the ward's live board (GET /api/ward, the live socket): one entry per patient
    // bound now, at the moment it was opened (what the board shows is live). A wall display is
    // no person: its enrolment and sign-ins are audited instead (io/identity/displays).
    p.set('wardView', async (v) => {
      if (v.role === 'display') return;
      const at = Date.now();
      for (const b of await p.get('bindings').active())
        access.log.append({
          v: 1,
          at,
          gateway: p.get('gatewayId'),
          actor: v.username,
          role: v.role as 'nurse' | 'charge_nurse' | 'admin',
          patient: patients.pseudonymOf(b.patientId),
          dev: b.dev,
          action: 'patient_view',
          dataFrom: at,
          dataUntil: at,
          basis: { type: 'ward' },
        });
    });
    // Break-glass (io/care/break-glass): this gateway's openings, on the central station while in force.
    const breakGlass = new BreakGlassBook(p.get('store'));
    const glassAlarms = new BreakGlassAlarms({
      book: breakGlass,
      bindings: p.get('bindings'),
      pseudonymOf: (patientId) => patients.pseudonymOf(patientId),
      inStandby: (dev) => p.get('alarms').tileState(dev).standby !== null,
      onError: (err) => log.warn('break-glass alarms: admissions not read; retrying', { code: code(err) }),
    });
    p.set('breakGlassAlarms', glassAlarms);
    await glassAlarms.refresh(); // the openings still in force after a restart
    p.set('closeCare', async () => {
      glassAlarms.close();
      bar?.close();
      consents?.close();
      patients.close();
    });
    const careOpts: CareRoutesOptions = {
      store: p.get('store'),
      bindings: p.get('bindings'),
      secrets: loadRecipientSecrets(paths.recipientsDir),
      users: p.get('users'),
      patients,
      consents,
      ...(opts.http?.maxReadings !== undefined ? { maxReadings: opts.http.maxReadings } : {}),
      // In a group, a patient's readings, trend and ECG ask the other gateways too (each
      // authorizes and logs what it serves); the http step registers this one once listening.
      ...(opts.shared?.postgres
        ? {
            group: {
              gatewayId: p.get('gatewayId'),
              peers: { peers: async () => (await p.find('groupPeers')?.peers()) ?? [] },
            },
          }
        : {}),
      breakGlass,
      breakGlassRoles: opts.breakGlass?.roles ?? ['doctor'],
      ...(opts.breakGlass?.minutes !== undefined ? { breakGlassMinutes: opts.breakGlass.minutes } : {}),
      onBreakGlass: (o) =>
        id.audit.append('break_glass', {
          user: o.username,
          detail: `${o.patient} until ${o.until}: ${o.reason}`,
        }),
      onAccess: (a) => {
        // Durable before the answer: a failed append throws, and nothing is served.
        p.get('access').log.append({
          v: 1,
          at: a.at,
          gateway: p.get('gatewayId'),
          actor: a.actor,
          role: a.role,
          patient: a.patient,
          dev: null,
          action: a.action,
          dataFrom: a.dataFrom,
          dataUntil: a.dataUntil,
          basis:
            a.basis.type === 'consent'
              ? { type: 'consent', consentId: a.basis.consentId, chainId: ledger?.deployment.chainId ?? 0 }
              : a.basis,
        });
        const basis = a.basis.type === 'consent' ? `consent ${a.basis.consentId}` : a.basis.type;
        id.audit.append('patient_data_view', {
          user: a.username,
          detail: `care ${a.action} of ${a.patient} ${a.dataFrom}-${a.dataUntil} (${a.count}) under ${basis}`,
        });
      },
      onRefused: (r) =>
        id.audit.append('care_access_refused', {
          user: r.username,
          code: r.code,
          detail: `care of ${r.patient}`,
        }),
    };
    // Each care route module over the same options (io/http/routes/care/*.ts).
    const routes: HttpRoutes[] = [
      careRoutes(careOpts),
      careBreakGlassRoutes(careOpts), // break-glass (io/http/routes/care/care-break-glass-routes)
      careExportRoutes({
        ...careOpts,
        paths,
        gatewayId: p.get('gatewayId'),
        deployment: ledger?.deployment ?? null,
        downloads: defaultDownloadSlots(opts.http?.downloads),
        // A bundle download holds the gateway's shredding while it reads (io/ingest/retention).
        shredHold: p.find('retention')?.hold ?? null,
      }),
      carePageRoutes(), // the patient portal and the doctor's page (io/http/routes/care/care-page-routes)
      careConsentRoutes({
        ...careOpts,
        users: p.get('users'),
        chain:
          hasConsent && ledger
            ? { chainId: ledger.deployment.chainId, consent: ledger.deployment.consent as string }
            : null,
        relay,
        registrar,
        keys: new PatientKeys(p.get('store')),
        access: { latest: (f, n) => access.log.latest(f, n) },
        onWrite: (w) => id.audit.append(w.event, { user: w.username, detail: w.detail }),
      }),
    ];
    p.set('careRoutes', async (app, auth) => {
      for (const register of routes) await register(app, auth);
    });
  },
  async stop(p) {
    await p.get('closeCare')();
  },
};
