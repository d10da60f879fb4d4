/**
 * @module anchor/consent/build-browser
 * Builds the patient portal's key and signing bundle (issue 18; README "The patient portal and
 * the doctor's page"): bundles the compiled `browser.js` entry with esbuild into
 * `dist/care/consent.js`, an IIFE that defines `globalThis.VitalTrailConsent` (keystore,
 * key proof, EIP-712 grants and revocations). The gateway serves it as `/care/consent.js`
 * (io/http/routes/care/care-page-routes), same origin, so the CSP's `default-src 'self'` admits it.
 * The modules are browser-safe as they are (viem and WebCrypto): no alias, no shim.
 *
 * Run after `tsc`: `node dist/anchor/src/consent/build-browser.js`.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/anchor/src/consent → dist/care/consent.js */
export const CONSENT_BUNDLE = join(here, '..', '..', '..', 'care', 'consent.js');

/**
 * Writes `dist/care/consent.js`.
 * @throws {Error} esbuild's error when a module cannot be bundled.
 * @example
 * await buildBrowserConsent();
 */
export async function buildBrowserConsent(outfile = CONSENT_BUNDLE): Promise<void> {
  await build({
    entryPoints: [join(here, 'browser.js')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    minify: true,
    legalComments: 'eof',
    outfile,
    logLevel: 'warning',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildBrowserConsent();
}
