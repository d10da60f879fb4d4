/**
 * @module verify-access/entry
 * The leaf of the access log (issue 18; README "The access log (issue 18)"): one view or
 * export of a patient's data, as canonical JSON. Shared by the gateway, which appends it
 * (io/access), and the auditor's verifier, which recomputes it; pure, no I/O.
 *
 * Entry (every key required, no other key):
 *
 * | key | value |
 * |---|---|
 * | `v` | `1` |
 * | `at` | when the access was served, ms since the epoch (gateway clock) |
 * | `gateway` | the gateway id (`[A-Za-z0-9._-]`, 1-64) |
 * | `actor` | the user name (`[A-Za-z0-9._-]`, 1-64), or a doctor's clinician id (`0x` + 2-128 lowercase hex) |
 * | `role` | `nurse`, `charge_nurse`, `doctor`, `patient`, `auditor` or `admin` |
 * | `patient` | the patient's pseudonym, `0x` + 64 lowercase hex (never the patient id) |
 * | `dev` | the device id, or `null` |
 * | `action` | `readings`, `trend`, `ecg`, `fhir_export`, `bundle_export` or `patient_view` |
 * | `dataFrom`, `dataUntil` | the data range served, ms, `dataFrom <= dataUntil` |
 * | `basis` | `{"type":"ward"}`, `{"type":"self"}`, `{"type":"consent","consentId":"0x…64 hex","chainId":n}` or `{"type":"break_glass","reason":"…"}` (1-500 code points) |
 *
 * Canonical form: RFC 8785 (JCS). Every number of an entry is a non-negative safe integer and
 * every key is ASCII, so JCS reduces to: object members sorted by key (byte order), no
 * whitespace, strings as ECMAScript `JSON.stringify` writes them (RFC 8785 §3.2.2.2), integers
 * in plain decimal, UTF-8. Strings must be well-formed UTF-16 (no lone surrogate) and hold no
 * control character. The leaf hash is RFC 9162's SHA-256(0x00 || entry bytes) (anchor/src/log).
 *
 * Decoding is strict: the bytes must parse, match the shape above, and re-encode to exactly
 * the same bytes; anything else is `undefined` with a fixed reason (entries in a bundle are
 * attacker-controlled; reasons never echo their content).
 */
import { DEVICE_ID_PATTERN } from '../../../gateway/src/protocol/frame.js';
import { hashLeaf } from '../log/index.js';

export const ACCESS_ENTRY_VERSION = 1;
export const ACCESS_ROLES = ['nurse', 'charge_nurse', 'doctor', 'patient', 'auditor', 'admin'] as const;
export const ACCESS_ACTIONS = [
  'readings',
  'trend',
  'ecg',
  'fhir_export',
  'bundle_export',
  'patient_view',
] as const;
export type AccessRole = (typeof ACCESS_ROLES)[number];
export type AccessAction = (typeof ACCESS_ACTIONS)[number];
/** Longest break-glass reason, in Unicode code points. */
export const MAX_BREAK_GLASS_REASON = 500;

/** Why the data was served. */
export type AccessBasis =
  | { type: 'ward' }
  | { type: 'self' }
  | { type: 'consent'; consentId: string; chainId: number }
  | { type: 'break_glass'; reason: string };

/** One access to a patient's data: the access log's leaf (module doc). */
export interface AccessEntry {
  v: 1;
  at: number;
  gateway: string;
  actor: string;
  role: AccessRole;
  patient: string;
  dev: string | null;
  action: AccessAction;
  dataFrom: number;
  dataUntil: number;
  basis: AccessBasis;
}

const HASH32 = /^0x[0-9a-f]{64}$/;
const USER_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const CLINICIAN_ID = /^0x(?:[0-9a-f]{2}){1,64}$/;
const ENTRY_KEYS = [
  'action',
  'actor',
  'at',
  'basis',
  'dataFrom',
  'dataUntil',
  'dev',
  'gateway',
  'patient',
  'role',
  'v',
];
const BASIS_KEYS: Record<string, readonly string[]> = {
  ward: ['type'],
  self: ['type'],
  consent: ['chainId', 'consentId', 'type'],
  break_glass: ['reason', 'type'],
};

type Json = null | string | number | Json[] | { [k: string]: Json };

/** RFC 8785 for the subset above: sorted members, no whitespace, safe integers only. */
function canonical(value: Json): string {
  if (value === null || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError('canonical JSON here holds safe integers only');
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k] as Json)}`).join(',')}}`;
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the rule is about control characters
const CONTROL = /[\u0000-\u001f\u007f]/;
/** A lone surrogate: in a `u` pattern, paired surrogates are one code point and never match. */
const LONE_SURROGATE = /\p{Cs}/u;
const isText = (x: unknown): x is string =>
  typeof x === 'string' && !LONE_SURROGATE.test(x) && !CONTROL.test(x);

function sameKeys(o: object, keys: readonly string[]): boolean {
  const have = Object.keys(o).sort();
  return have.length === keys.length && have.every((k, i) => k === keys[i]);
}

function basisProblem(b: unknown): string | undefined {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return 'basis is not an object';
  const o = b as Record<string, unknown>;
  const keys =
    typeof o.type === 'string' && Object.hasOwn(BASIS_KEYS, o.type) ? BASIS_KEYS[o.type] : undefined;
  if (!keys) return 'basis type is not ward, self, consent or break_glass';
  if (!sameKeys(o, keys)) return 'basis has missing or extra keys';
  if (o.type === 'consent') {
    if (typeof o.consentId !== 'string' || !HASH32.test(o.consentId)) return 'consentId is not 0x + 64 hex';
    if (!isCount(o.chainId) || o.chainId === 0) return 'chainId is not a positive safe integer';
  }
  if (o.type === 'break_glass') {
    if (!isText(o.reason) || o.reason.length === 0) return 'the break-glass reason is empty or not text';
    if ([...o.reason].length > MAX_BREAK_GLASS_REASON) return 'the break-glass reason is over 500 characters';
  }
  return undefined;
}

/** Why `x` is not an access entry, or undefined when it is one. Fixed texts only. */
export function accessEntryProblem(x: unknown): string | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return 'the entry is not an object';
  const e = x as Record<string, unknown>;
  if (!sameKeys(e, ENTRY_KEYS)) return 'the entry has missing or extra keys';
  if (e.v !== ACCESS_ENTRY_VERSION) return 'v is not 1';
  if (!isCount(e.at)) return 'at is not a non-negative safe integer';
  if (typeof e.gateway !== 'string' || !DEVICE_ID_PATTERN.test(e.gateway))
    return 'gateway is not a gateway id';
  if (typeof e.actor !== 'string' || !(USER_NAME.test(e.actor) || CLINICIAN_ID.test(e.actor)))
    return 'actor is not a user name or clinician id';
  if (!(ACCESS_ROLES as readonly unknown[]).includes(e.role)) return 'role is not a known role';
  if (typeof e.patient !== 'string' || !HASH32.test(e.patient))
    return 'patient is not a 0x + 64 hex pseudonym';
  if (e.dev !== null && (typeof e.dev !== 'string' || !DEVICE_ID_PATTERN.test(e.dev)))
    return 'dev is not a device id or null';
  if (!(ACCESS_ACTIONS as readonly unknown[]).includes(e.action)) return 'action is not a known action';
  if (!isCount(e.dataFrom) || !isCount(e.dataUntil)) return 'the data range is not safe integers';
  if (e.dataFrom > e.dataUntil) return 'dataFrom is after dataUntil';
  return basisProblem(e.basis);
}

/**
 * The canonical bytes of an access entry (RFC 8785; module doc).
 * @throws {TypeError} naming the rule when `entry` is not a valid access entry (misuse).
 * @example
 * encodeAccessEntry({ v: 1, at, gateway: 'gw-1', actor: 'alice', role: 'nurse', patient, dev: null,
 *   action: 'readings', dataFrom, dataUntil, basis: { type: 'ward' } });
 */
export function encodeAccessEntry(entry: AccessEntry): Uint8Array {
  const problem = accessEntryProblem(entry);
  if (problem !== undefined) throw new TypeError(`encodeAccessEntry: ${problem}`);
  return new Uint8Array(Buffer.from(canonical(entry as unknown as Json), 'utf8'));
}

/** The entry's text form (what a bundle carries): the canonical bytes as a string. */
export function accessEntryText(entry: AccessEntry): string {
  return Buffer.from(encodeAccessEntry(entry)).toString('utf8');
}

/**
 * Decodes canonical entry bytes (or their text): the entry, or the fixed reason it is not one
 * (does not parse, wrong shape, or not the canonical encoding of what it holds).
 */
export function decodeAccessEntry(input: Uint8Array | string): { entry: AccessEntry } | { problem: string } {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch {
      return { problem: 'the entry is not UTF-8' };
    }
  }
  if (text.length > 4096) return { problem: 'the entry is over 4096 characters' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { problem: 'the entry is not JSON' };
  }
  const problem = accessEntryProblem(parsed);
  if (problem !== undefined) return { problem };
  if (canonical(parsed as Json) !== text) return { problem: 'the entry is not in canonical form' };
  return { entry: parsed as AccessEntry };
}

/** RFC 9162 leaf hash of an entry's canonical bytes: SHA-256(0x00 || bytes). */
export function accessLeafHash(bytes: Uint8Array): Uint8Array {
  return hashLeaf(bytes);
}
