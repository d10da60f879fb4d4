/**
 * @module io/http/static-files
 * The pages' files (dashboards/ward, dashboards/common, dashboards/auditor) as a fixed
 * whitelist: the directory is listed once, when the routes are registered, and only plain
 * file names with a known type become routes (`/app.js`, `/common/dom.js`, …). Nothing
 * else is ever mapped to a path on disk, so a request cannot name a file outside the list
 * (no path traversal: `..`, encoded slashes and sub-directories never match a route).
 * Files are read per request, so a changed module is served without a restart; a file
 * that disappears answers 404 `not_found`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

/**
 * A file of the checkout, found from this module up (the same from `gateway/src` and from
 * `dist`): a page's directory, a built bundle. Undefined when no ancestor holds it.
 * @example checkoutFile('dist/auditor/verifier.js')
 */
export function checkoutFile(rel: string): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    dir = dirname(dir);
  }
  return undefined;
}

/** Content types by extension; only these extensions are ever served. */
export const STATIC_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** A plain file name: lower-case letters, digits and dashes, one known extension. */
const FILE_NAME = /^[a-z0-9][a-z0-9-]*\.(html|js|css)$/;

export interface StaticFile {
  /** Absolute or checkout-relative path of the file on disk. */
  path: string;
  type: string;
}

/** URL path → file. */
export type StaticFileTable = ReadonlyMap<string, StaticFile>;

/**
 * The whitelist of one page directory, served under `prefix` (which starts and ends with
 * `/`): every plain file name of `dir` (see `FILE_NAME`), and `index.html` also at
 * `prefix` itself. A missing directory yields an empty table.
 * @throws {TypeError} when `prefix` does not start and end with `/`.
 * @example
 * staticFileTable('dashboards/common', '/common/').get('/common/dom.js'); // { path: 'dashboards/common/dom.js', type: 'text/javascript; charset=utf-8' }
 */
export function staticFileTable(dir: string, prefix: string): Map<string, StaticFile> {
  if (!prefix.startsWith('/') || !prefix.endsWith('/')) {
    throw new TypeError('staticFileTable: prefix must start and end with "/"');
  }
  const table = new Map<string, StaticFile>();
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => d.name)
      .sort();
  } catch {
    return table;
  }
  for (const name of names) {
    const m = FILE_NAME.exec(name);
    if (!m) continue;
    const file: StaticFile = { path: join(dir, name), type: STATIC_TYPES[`.${m[1]}`] as string };
    table.set(`${prefix}${name}`, file);
    if (name === 'index.html') table.set(prefix, file);
  }
  return table;
}

/** Merges tables; a URL listed twice keeps its first file. */
export function mergeStaticTables(...tables: StaticFileTable[]): Map<string, StaticFile> {
  const out = new Map<string, StaticFile>();
  for (const t of tables) for (const [url, f] of t) if (!out.has(url)) out.set(url, f);
  return out;
}

/** Sends one whitelisted file. */
export async function sendStaticFile(reply: FastifyReply, file: StaticFile): Promise<FastifyReply> {
  let body: Buffer;
  try {
    body = await readFile(file.path);
  } catch {
    throw new HttpError('not_found');
  }
  return reply.type(file.type).send(body);
}

/**
 * Registers one GET route per whitelisted URL. `guard`, when given, runs first (e.g. a role
 * check); `headers` are added to each answer.
 */
export function registerStaticFiles(
  app: FastifyInstance,
  table: StaticFileTable,
  opts: {
    guard?: (request: FastifyRequest, reply: FastifyReply) => void;
    headers?: Readonly<Record<string, string>>;
  } = {},
): void {
  for (const [url, file] of table) {
    app.get(url, async (request, reply) => {
      opts.guard?.(request, reply);
      if (opts.headers) reply.headers(opts.headers);
      return sendStaticFile(reply, file);
    });
  }
}
