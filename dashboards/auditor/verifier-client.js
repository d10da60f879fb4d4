// @ts-check
/**
 * @module dashboards/auditor/verifier-client
 * Runs the verifier bundle (`/auditor/verifier.js`, anchor/src/verify/browser.ts) as a Web
 * Worker: `{type:'verify', bundle, anchors}` in (a disclosure bundle with `vitaltrail-anchors/1`,
 * or an access-log bundle with `vitaltrail-access-evidence/1`); `ready`, `progress`, then `result` or
 * `error` out. A run started while another is under way replaces it (the old worker is
 * terminated). The main thread never verifies, so the page stays responsive.
 */

/**
 * What the worker reports while it works.
 * @typedef {{phase: 'reading' | 'signatures' | 'entries', done: number, total: number}} Progress
 */
/**
 * The worker's result for a disclosure bundle (anchor/src/verify/browser.ts `PageResult`; only what the page reads).
 * @typedef {object} PageResult
 * @property {'disclosure'} kind
 * @property {VerifyReport} report
 * @property {{index: number, dev: string, ts: number, obs: Record<string, number>}[]} readings
 * @property {SignatureStats} signatures
 * @property {string} scope what was verified: the CLI's first line (anchor/src/verify/scope.ts)
 */
/**
 * The worker's result for an access-log bundle (anchor/src/verify-access/browser.ts `AccessPageResult`).
 * @typedef {object} AccessPageResult
 * @property {'access'} kind
 * @property {AccessReport} report as `vitaltrail verify-access BUNDLE --evidence FILE --json`
 * @property {string} scope what was verified: the CLI's first line
 * @property {number} verifyMs
 */
/**
 * @typedef {{type: 'ward'} | {type: 'self'} | {type: 'consent', consentId: string, chainId: number} | {type: 'break_glass', reason: string}} AccessBasis
 */
/**
 * One access-bundle item's verdict, with its decoded entry (anchor/src/verify-access/verify.ts).
 * @typedef {object} AccessEntryResult
 * @property {number} index
 * @property {number} [leafIndex]
 * @property {string} code
 * @property {string} [reason]
 * @property {number} [anchoredBlock]
 * @property {{at: number, actor: string, role: string, patient: string, dev: string | null, action: string, dataFrom: number, dataUntil: number, basis: AccessBasis}} [entry]
 */
/**
 * @typedef {object} AccessReport
 * @property {'VALID' | 'INVALID'} verdict
 * @property {AccessEntryResult[]} entries
 * @property {{from: number, to: number, code: string}[]} gaps
 * @property {{treeSize: number, code: string, reason?: string}[]} checkpoints
 * @property {{from: number, to: number, code: string, reason?: string}[]} links
 * @property {string[]} problems
 * @property {boolean} coversWholeLog
 * @property {boolean} vkeyPinned
 * @property {Record<string, number>} counts
 * @property {string} consentContract
 * @property {number} grants
 * @property {number} absent
 */
/** @typedef {PageResult | AccessPageResult} WorkerResult */
/**
 * @typedef {object} VerifyReport
 * @property {boolean} ok
 * @property {'VALID' | 'INVALID' | 'INCOMPLETE'} verdict
 * @property {Record<string, unknown> & {byCode: Record<string, number>}} summary
 * @property {boolean} registryChecked
 * @property {SequenceReport} sequence
 * @property {{treeSize: number, code: string, reason?: string}[]} checkpoints
 * @property {{index: number, leafIndex?: number, dev?: string, seq?: number, ts?: number, code: string, reason?: string, boundary?: 'before' | 'after'}[]} entries
 */
/**
 * The completeness of each device's chain (anchor/src/verify/sequences.ts `SequenceReport`).
 * @typedef {object} SequenceReport
 * @property {SequenceGap[]} gaps
 * @property {DeviceRange[]} devices
 * @property {{dev: string, seq: number, indexes: number[]}[]} conflicts
 * @property {number} duplicates
 * @property {number} distinct
 * @property {number} openEnds
 * @property {boolean} complete
 */
/**
 * An entry on one side of a gap, or at an end of a device's range; a shredded frame has no
 * time (its bytes are gone).
 * @typedef {{index: number, leafIndex: number, seq: number, ts?: number, boundary?: 'before' | 'after', shredded?: true}} SequenceSide
 */
/**
 * A break in one device's chain: seqs `fromSeq`-`toSeq` missing, or seq `fromSeq` whose
 * `prev` is not the hash of the frame before.
 * @typedef {object} SequenceGap
 * @property {string} dev
 * @property {'missing' | 'prev_mismatch'} kind
 * @property {number} fromSeq
 * @property {number} toSeq
 * @property {SequenceSide} before
 * @property {SequenceSide} after
 */
/**
 * One device's disclosed range and how its ends are proven.
 * @typedef {object} DeviceRange
 * @property {string} dev
 * @property {number} frames
 * @property {SequenceSide} [first]
 * @property {SequenceSide} [last]
 * @property {'genesis' | 'proven' | 'open'} start
 * @property {'proven' | 'open'} end
 * @property {SequenceSide} [before]
 * @property {SequenceSide} [after]
 */
/**
 * @typedef {object} SignatureStats
 * @property {{es256Prechecked: number, es256Noble: number, ed25519Noble: number, certificateNoble: number}} counts
 * @property {{webcrypto: boolean, highS?: boolean, highSLeft?: number, note?: string, ms?: number}} [webcrypto]
 * @property {number} verifyMs
 */

/** @typedef {{resolve: (r: WorkerResult) => void, reject: (e: Error) => void, onProgress: (p: Progress) => void}} Run */

export const NOT_LOADED =
  'the verifier bundle did not load (build it: node dist/anchor/src/verify/build-browser.js)';

/**
 * A client of the verifier worker at `url`.
 * @param {string} url
 * @param {{onReady: () => void, onFailure: (text: string) => void}} hooks `onFailure`: the
 *   worker failed while no run was waiting (e.g. the script did not load)
 */
export function createVerifierClient(url, hooks) {
  /** @type {Run | null} */
  let pending = null;

  function startWorker() {
    const w = new Worker(url);
    let loaded = false;
    w.addEventListener('message', (ev) => {
      const msg = ev.data;
      if (msg?.type === 'ready') {
        loaded = true;
        hooks.onReady();
      } else if (msg?.type === 'progress') {
        pending?.onProgress(msg);
      } else if (msg?.type === 'result') {
        pending?.resolve(msg.result);
        pending = null;
      } else if (msg?.type === 'error') {
        const err = new Error(msg.message);
        if (msg.code) Object.assign(err, { code: msg.code, reason: msg.reason });
        pending?.reject(err);
        pending = null;
      }
    });
    // The script did not load (404, a syntax error), or the worker died (out of memory).
    w.addEventListener('error', (ev) => {
      ev.preventDefault();
      const text = loaded ? `the verifier stopped (${ev.message})` : NOT_LOADED;
      if (pending) {
        pending.reject(new Error(text));
        pending = null;
      } else {
        hooks.onFailure(text);
      }
    });
    return w;
  }

  let worker = startWorker();

  return {
    /**
     * Verifies in the worker; a run started while another is under way replaces it.
     * @param {File} bundleFile
     * @param {File} anchorsFile
     * @param {(p: Progress) => void} onProgress
     * @returns {Promise<WorkerResult>}
     */
    verify(bundleFile, anchorsFile, onProgress) {
      if (pending) {
        worker.terminate();
        pending.reject(new Error('superseded'));
        pending = null;
        worker = startWorker();
      }
      return new Promise((resolve, reject) => {
        pending = { resolve, reject, onProgress };
        worker.postMessage({ type: 'verify', bundle: bundleFile, anchors: anchorsFile });
      });
    },
  };
}
