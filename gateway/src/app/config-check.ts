/**
 * @module app/config-check
 * Checking one configuration value against its type (app/config-fields): scalars, and
 * `list` fields, arrays of objects whose every item is checked field by field. A problem
 * names the value, `serial[1].path: is required`, and the environment variable it came
 * from, never the value itself. Relative paths resolve against the config file's directory.
 *
 * Trust: the values come from the operator's file and environment; they are still parsed
 * defensively (a list of the wrong shape is a problem, never a `TypeError`).
 */
import { isAbsolute, resolve } from 'node:path';
import { DEVICE_ID_PATTERN } from '../protocol/frame.js';
import type { ConfigItem, FieldType, ItemField, ListType, ScalarType } from './config-fields.js';

/** The value, or the problem (`label: reason`). */
export interface Checked<T> {
  value?: T;
  problem?: string;
}

/**
 * Checks one scalar value.
 * @param label how the problem names it: `mqtt.port`, `serial[0].baudRate`
 * @param envName the environment variable it came from, if it did
 * @example checkValue('http.port', { kind: 'int', min: 0, max: 65535 }, '80', undefined) // { value: 80 }
 */
export function checkValue(
  label: string,
  t: ScalarType,
  raw: string | number,
  envName: string | undefined,
): Checked<string | number> {
  const bad = (why: string) => ({ problem: `${label}: ${why}${envName ? ` (from ${envName})` : ''}` });
  if (t.kind === 'int' || t.kind === 'number') {
    const n = typeof raw === 'number' ? raw : raw.trim() === '' ? Number.NaN : Number(raw);
    const ok = Number.isFinite(n) && n >= t.min && n <= t.max && (t.kind === 'number' || Number.isInteger(n));
    return ok
      ? { value: n }
      : bad(`must be ${t.kind === 'int' ? 'an integer' : 'a number'} from ${t.min} to ${t.max}`);
  }
  if (typeof raw !== 'string') return bad('must be a string');
  if (t.kind === 'enum')
    return t.values.includes(raw) ? { value: raw } : bad(`must be one of ${t.values.join(', ')}`);
  if (t.kind === 'string' && t.pattern && !t.pattern.test(raw)) return bad(`must be ${t.patternText}`);
  if (t.kind === 'url') {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return bad('must be a URL');
    }
    if (!t.schemes.includes(u.protocol)) return bad(`must be a ${t.schemes.join(' or ')} URL`);
    if (u.username || u.password) return bad('must not carry credentials (use a secret file)');
  }
  if (raw === '') return bad('must not be empty');
  return { value: raw };
}

/** A checked `file`/`secretFile` value made absolute against `baseDir`. */
export function resolvedPath(t: ScalarType, v: string | number, baseDir: string): string | number {
  return (t.kind === 'file' || t.kind === 'secretFile') && typeof v === 'string' && !isAbsolute(v)
    ? resolve(baseDir, v)
    : v;
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/** One field of one item; `undefined` value with no problem: absent and optional. */
function checkItemField(
  label: string,
  f: ItemField,
  raw: unknown,
  baseDir: string,
  envName: string | undefined,
): Checked<string | number | readonly string[]> {
  const from = envName ? ` (from ${envName})` : '';
  if (raw === undefined) {
    if (f.default !== undefined) return { value: f.default };
    return f.required ? { problem: `${label}: is required${from}` } : {};
  }
  if (f.type.kind === 'idList') {
    const ok =
      Array.isArray(raw) &&
      raw.length > 0 &&
      raw.every((d) => typeof d === 'string' && DEVICE_ID_PATTERN.test(d));
    return ok
      ? { value: [...(raw as string[])] }
      : { problem: `${label}: must be a non-empty list of device ids (1-64 chars of [A-Za-z0-9._-])${from}` };
  }
  if (typeof raw !== 'string' && typeof raw !== 'number')
    return { problem: `${label}: must be a ${f.type.kind === 'int' ? 'number' : 'string'}${from}` };
  const r = checkValue(label, f.type, raw, envName);
  return r.value === undefined ? r : { value: resolvedPath(f.type, r.value, baseDir) };
}

/**
 * Checks a `list` field: an array of objects, each with the fields of `t.item` (unknown
 * keys are problems; defaults filled in); two items may not share the value of the field
 * `t.unique` (e.g. one port, one binding). Every problem is returned, not only the first.
 * @param raw the parsed file value, or the environment variable's text (JSON)
 * @example checkList('serial', serialType, [{ path: '/dev/ttyUSB0', devices: ['wr-1'] }], '/etc/vt', undefined)
 */
export function checkList(
  path: string,
  t: ListType,
  raw: unknown,
  baseDir: string,
  envName: string | undefined,
): { value?: readonly ConfigItem[]; problems: string[] } {
  const from = envName ? ` (from ${envName})` : '';
  let doc = raw;
  if (typeof raw === 'string') {
    try {
      doc = JSON.parse(raw);
    } catch {
      return { problems: [`${path}: must be a JSON list of objects${from}`] };
    }
  }
  if (!Array.isArray(doc)) return { problems: [`${path}: must be a list of objects${from}`] };
  const problems: string[] = [];
  const items: ConfigItem[] = [];
  const keys = new Set(t.item.map((f) => f.key));
  const seen = new Set<unknown>();
  doc.forEach((entry: unknown, i) => {
    const at = `${path}[${i}]`;
    if (!isObject(entry)) {
      problems.push(`${at}: must be an object${from}`);
      return;
    }
    for (const k of Object.keys(entry)) if (!keys.has(k)) problems.push(`${at}.${k}: unknown field${from}`);
    const out: Record<string, string | number | readonly string[]> = {};
    for (const f of t.item) {
      const r = checkItemField(`${at}.${f.key}`, f, entry[f.key], baseDir, envName);
      if (r.problem) problems.push(r.problem);
      else if (r.value !== undefined) out[f.key] = r.value;
    }
    const key = t.unique === undefined ? undefined : out[t.unique];
    if (key !== undefined && seen.has(key)) problems.push(`${at}.${t.unique}: is given twice${from}`);
    seen.add(key);
    items.push(out);
  });
  return problems.length > 0 ? { problems } : { value: items, problems };
}

/** How the reference (`vitaltrail config schema`) shows a type. */
export function typeText(t: FieldType | ItemField['type']): string {
  if (t.kind === 'enum') return t.values.map((x) => `\`${x}\``).join(' \\| ');
  if (t.kind === 'int' || t.kind === 'number') return `${t.kind} ${t.min}-${t.max}`;
  if (t.kind === 'secretFile') return 'path (secret, 0600)';
  if (t.kind === 'file') return 'path';
  if (t.kind === 'list') return 'list of objects (JSON in the environment)';
  if (t.kind === 'idList') return 'list of device ids';
  return t.kind;
}
