/**
 * @module verify/browser
 * Entry point of the auditor page's verifier bundle (issue 6 "an auditor page";
 * PROTOCOL.md §5). It exposes the SAME parser and verifier the CLI runs
 * (`parseBundle`, `parseChainEvidence`, `verifyBundle`) on `globalThis.VitalTrailVerifier`;
 * `build-browser.ts` bundles it with `node:crypto` aliased to `browser-crypto.ts`.
 *
 * The page runs the bundle as a (classic) Web Worker, so that verification never blocks
 * it. Loaded in a worker, the bundle answers one message:
 * - page → worker `{type: 'verify', bundle, anchors}` (each a File/Blob or JSON text); an
 *   access-log bundle (`vitaltrail-access/1`, issue 18) with its `vitaltrail-access-evidence/1`
 *   is verified by anchor/src/verify-access/browser.ts instead (result `kind: 'access'`), which
 *   the bundle's entry (build-browser.ts) registers as `globalThis.VitalTrailAccessVerifier`:
 *   no import between the two rooms, so the access verifier builds on this one, not the reverse;
 * - worker → page `{type: 'progress', phase: 'signatures' | 'entries', done, total}` while
 *   it works, then `{type: 'result', result: PageResult}` or `{type: 'error', code?,
 *   reason?, message}` (`code`/`reason` of a coded error: the CLI exits 2 there);
 * - worker → page `{type: 'ready'}` once, when the bundle has loaded.
 * `verifyDocumentsAsync` (what the worker runs) first checks the ES256 frame signatures
 * with WebCrypto (`browser-precheck.ts`), then runs the synchronous verifier, whose ES256
 * checks are answered from those verdicts; `PageResult.signatures` says how every
 * signature was checked, beside the report (never in it: the report is the CLI's).
 *
 * Trust: both documents are attacker-controlled (the page reads them from files the
 * auditor picks); failures become a thrown `BundleError` (cannot run) or per-entry codes.
 */
import { VitalTrailError } from '../../../gateway/src/protocol/errors.js';
import { decodeFrame, OBSERVATIONS, type ObservationKey } from '../../../gateway/src/protocol/frame.js';
import { clearPrecheckedEs256, type SignatureCounts, takeSignatureCounts } from './browser-crypto.js';
import { type PrecheckReport, precheckEs256 } from './browser-precheck.js';
import { BundleError, type DisclosureBundle, type DisclosureEntry, parseBundle } from './bundle.js';
import { type ChainEvidence, parseChainEvidence } from './evidence-format.js';
import { scopeLine } from './scope.js';
import { type BundleReport, ENTRY_CODES, verifyBundle } from './verify.js';

/** One reading of an entry, for the page's chart (device clock, scaled value). */
export interface EntryReading {
  index: number;
  dev: string;
  ts: number;
  obs: Partial<Record<ObservationKey, number>>;
}

/** How the signatures of one verification were checked (shown by the page, not part of the report). */
export interface SignatureStats {
  /** How the verifier's checks were answered: WebCrypto verdicts (`es256Prechecked`) or @noble. */
  counts: SignatureCounts;
  /** The WebCrypto precheck (absent for `verifyDocuments`, which uses @noble only). */
  webcrypto?: PrecheckReport;
  /** Wall time of the synchronous verifier, ms. */
  verifyMs: number;
}

/** The access-log verifier the bundle's entry registers (anchor/src/verify-access/browser.ts). */
interface AccessVerifier {
  isAccessBundle(json: unknown): boolean;
  verifyAccessDocuments(bundleJson: unknown, evidenceJson: unknown): unknown;
}

/** The report as `vitaltrail verify --anchors FILE --json` prints it, and the readings to chart. */
export interface PageResult {
  kind: 'disclosure';
  report: BundleReport & { evidence: { source: 'file'; head: number; fetchedAt: string } };
  readings: EntryReading[];
  /** Beside the report, never in it. */
  signatures: SignatureStats;
  /** What was verified: the CLI's first line (`scope.ts`). */
  scope: string;
}

export type ProgressPhase = 'signatures' | 'entries';

/** The CLI's rule: the evidence must be of the bundle's chain and anchors contract. */
function sameChain(ev: ChainEvidence, chainId: number, contract: string): void {
  if (ev.chainId !== chainId) throw new BundleError('malformed', 'the chain evidence is of another chain');
  if (ev.contract.toLowerCase() !== contract.toLowerCase()) {
    throw new BundleError('malformed', 'the chain evidence is of another anchors contract');
  }
}

/** Readings of the entries whose frame decodes (whatever their verdict: the page colours them). */
function readingsOf(entries: readonly DisclosureEntry[]): EntryReading[] {
  const out: EntryReading[] = [];
  entries.forEach((e, index) => {
    if (e.shredded === true || typeof e.frame !== 'string') return;
    try {
      const f = decodeFrame(new Uint8Array(Buffer.from(e.frame, 'base64')));
      const obs: EntryReading['obs'] = {};
      for (const [k, v] of Object.entries(f.body.obs ?? {})) {
        const def = OBSERVATIONS[k as ObservationKey];
        if (def && typeof v === 'number') obs[k as ObservationKey] = v * def.scale;
      }
      // A ts from 2^53 on (a bigint) is no time to chart; its entry is not valid anyway.
      if (typeof f.body.ts === 'number') out.push({ index, dev: f.body.dev, ts: f.body.ts, obs });
    } catch {
      // not decodable: its entry is reported malformed; nothing to chart
    }
  });
  return out;
}

/**
 * Parses and verifies a bundle against a saved evidence file, as `vitaltrail verify
 * BUNDLE --anchors FILE --json` does.
 * @throws {BundleError} `malformed` when either document is not of its format, or the
 *   evidence is of another chain or contract (the CLI exits 2 there).
 * @example
 * const { report } = VitalTrailVerifier.verifyDocuments(JSON.parse(b), JSON.parse(a));
 */
export function verifyDocuments(bundleJson: unknown, evidenceJson: unknown): PageResult {
  const { bundle, evidence } = parseDocuments(bundleJson, evidenceJson);
  takeSignatureCounts();
  return verifyParsed(bundle, evidence);
}

function parseDocuments(bundleJson: unknown, evidenceJson: unknown) {
  const bundle = parseBundle(bundleJson);
  const evidence = parseChainEvidence(evidenceJson);
  sameChain(evidence, bundle.chain.chainId, bundle.chain.contract);
  return { bundle, evidence };
}

function verifyParsed(
  bundle: DisclosureBundle,
  evidence: ChainEvidence,
  onProgress?: (phase: ProgressPhase, done: number, total: number) => void,
  webcrypto?: PrecheckReport,
): PageResult {
  const started = performance.now();
  const total = bundle.entries.length;
  const report = verifyBundle(bundle, evidence.anchors, {
    registry: evidence.registryEvents,
    ...(onProgress
      ? {
          onProgress: (done: number) => onProgress('entries', done, total),
          progressEvery: Math.max(100, Math.ceil(total / 100)),
        }
      : {}),
  });
  const verifyMs = Math.round(performance.now() - started);
  const signatures: SignatureStats = { counts: takeSignatureCounts(), verifyMs };
  if (webcrypto) signatures.webcrypto = webcrypto;
  return {
    kind: 'disclosure',
    report: { ...report, evidence: { source: 'file', head: evidence.head, fetchedAt: evidence.fetchedAt } },
    readings: readingsOf(bundle.entries),
    signatures,
    scope: scopeLine(bundle, report),
  };
}

/**
 * `verifyDocuments` with the ES256 frame signatures checked by WebCrypto first
 * (`browser-precheck.ts`); the same report, and `signatures` says how each was checked.
 * @param opts.subtle - default `globalThis.crypto.subtle`; without it @noble checks all.
 * @param opts.onProgress - (phase, entries done, total): the WebCrypto phase, then the verifier's.
 * @throws {BundleError} as `verifyDocuments`, before any signature is checked.
 * @example
 * const { report, signatures } = await verifyDocumentsAsync(bundleJson, evidenceJson);
 */
export async function verifyDocumentsAsync(
  bundleJson: unknown,
  evidenceJson: unknown,
  opts: {
    subtle?: SubtleCrypto | undefined;
    onProgress?: (phase: ProgressPhase, done: number, total: number) => void;
  } = {},
): Promise<PageResult> {
  const { bundle, evidence } = parseDocuments(bundleJson, evidenceJson);
  const subtle = 'subtle' in opts ? opts.subtle : globalThis.crypto?.subtle;
  try {
    const webcrypto = await precheckEs256(bundle, subtle, (done, total) =>
      opts.onProgress?.('signatures', done, total),
    );
    takeSignatureCounts();
    return verifyParsed(bundle, evidence, opts.onProgress, webcrypto);
  } finally {
    clearPrecheckedEs256();
  }
}

/** The worker side of the page (see the module doc). */
interface WorkerScope {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (ev: MessageEvent) => void): void;
}

async function jsonOf(doc: unknown): Promise<unknown> {
  const text = doc instanceof Blob ? await doc.text() : doc;
  return JSON.parse(String(text));
}

async function answer(scope: WorkerScope, data: unknown): Promise<void> {
  const msg = data as { type?: unknown; bundle?: unknown; anchors?: unknown } | null;
  if (msg?.type !== 'verify') return;
  try {
    let bundleJson: unknown;
    let evidenceJson: unknown;
    try {
      [bundleJson, evidenceJson] = await Promise.all([jsonOf(msg.bundle), jsonOf(msg.anchors)]);
    } catch {
      throw new Error('a file is not JSON');
    }
    const access = (globalThis as { VitalTrailAccessVerifier?: AccessVerifier }).VitalTrailAccessVerifier;
    const result = access?.isAccessBundle(bundleJson)
      ? access.verifyAccessDocuments(bundleJson, evidenceJson)
      : await verifyDocumentsAsync(bundleJson, evidenceJson, {
          onProgress: (phase, done, total) => scope.postMessage({ type: 'progress', phase, done, total }),
        });
    scope.postMessage({ type: 'result', result });
  } catch (err) {
    scope.postMessage(
      err instanceof VitalTrailError
        ? { type: 'error', code: err.code, reason: err.reason, message: err.message }
        : { type: 'error', message: err instanceof Error ? err.message : String(err) },
    );
  }
}

(globalThis as Record<string, unknown>).VitalTrailVerifier = Object.freeze({
  verifyDocuments,
  verifyDocumentsAsync,
  ENTRY_CODES,
});

// A classic worker has importScripts; a page does not.
if (typeof (globalThis as { importScripts?: unknown }).importScripts === 'function') {
  const scope = globalThis as unknown as WorkerScope;
  scope.addEventListener('message', (ev) => void answer(scope, ev.data));
  scope.postMessage({ type: 'ready' });
}
