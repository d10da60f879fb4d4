/**
 * @module verify/browser-buffer
 * Injected by `build-browser.ts` as the global `Buffer` of the auditor page's verifier
 * bundle: the verifier and the wire codec (PROTOCOL.md §1, §5) use Node's Buffer for hex
 * and base64; in the page that is the `buffer` package (the same API, pure JS).
 */
export { Buffer } from 'buffer';
