/**
 * @module verify/build-browser
 * Builds the auditor page's verifier (issue 6 "an auditor page"; PROTOCOL.md §5): bundles
 * the compiled `browser.js` entry with esbuild into `dist/auditor/verifier.js`, with
 * `node:crypto` aliased to `browser-crypto.js` and `Buffer` injected from the `buffer`
 * package, so the page runs the same verifier modules as `vitaltrail verify`. One file
 * serves both sides: the page's `app.js` runs it as a classic Web Worker (`browser.ts`
 * answers the page's messages there), and loaded as a plain script it only defines
 * `globalThis.VitalTrailVerifier`.
 *
 * Run after `tsc`: `node dist/anchor/src/verify/build-browser.js`.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/anchor/src/verify → dist/auditor/verifier.js */
export const VERIFIER_BUNDLE = join(here, '..', '..', '..', 'auditor', 'verifier.js');

/**
 * Writes `dist/auditor/verifier.js`.
 * @throws {Error} esbuild's error when a module cannot be bundled.
 * @example
 * await buildBrowserVerifier();
 */
export async function buildBrowserVerifier(outfile = VERIFIER_BUNDLE): Promise<void> {
  await build({
    // The disclosure verifier's worker, and the access-log verifier (issue 18) registered where
    // the worker looks for it: the two rooms meet here, in the bundle, not by an import.
    stdin: {
      contents: [
        "import { isAccessBundle, verifyAccessDocuments } from '../verify-access/browser.js';",
        "import './browser.js';",
        'globalThis.VitalTrailAccessVerifier = Object.freeze({ isAccessBundle, verifyAccessDocuments });',
      ].join('\n'),
      resolveDir: here,
      sourcefile: 'auditor-worker.js',
    },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    minify: true,
    legalComments: 'eof',
    alias: { 'node:crypto': join(here, 'browser-crypto.js') },
    inject: [join(here, 'browser-buffer.js')],
    outfile,
    logLevel: 'warning',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildBrowserVerifier();
}
