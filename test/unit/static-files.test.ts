/**
 * @module test/unit/static-files
 * The pages' static whitelist (gateway/src/io/http/static-files.ts): every module file of
 * dashboards/ward, dashboards/common and dashboards/auditor is served as text/javascript
 * (so a new module cannot be forgotten), and nothing outside the list is served. Fastify
 * `inject()`, no sockets.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { wardStaticFiles } from '../../gateway/src/io/http/server.js';
import { registerStaticFiles, staticFileTable } from '../../gateway/src/io/http/static-files.js';

const ROOT = join(import.meta.dirname, '..', '..');
const WARD = join(ROOT, 'dashboards', 'ward');
const COMMON = join(ROOT, 'dashboards', 'common');
const AUDITOR = join(ROOT, 'dashboards', 'auditor');
const jsFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.js'));

const app = Fastify();
registerStaticFiles(app, wardStaticFiles(WARD));
registerStaticFiles(app, staticFileTable(AUDITOR, '/auditor/'));
afterAll(() => app.close());

describe('static whitelist of the pages', () => {
  it('behavior: every module of dashboards/ward, dashboards/common and dashboards/auditor is served as text/javascript', async () => {
    const urls = [
      ...jsFiles(WARD).map((f) => `/${f}`),
      ...jsFiles(COMMON).map((f) => `/common/${f}`),
      ...jsFiles(AUDITOR).map((f) => `/auditor/${f}`),
    ];
    expect(urls).toContain('/app.js');
    expect(urls).toContain('/common/dom.js');
    expect(urls).toContain('/auditor/app.js');
    for (const url of urls) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type'], url).toBe('text/javascript; charset=utf-8');
      expect(res.body.startsWith('// @ts-check'), url).toBe(true);
    }
  });

  it('behavior: the pages and their styles are served at their fixed paths', async () => {
    for (const [url, type] of [
      ['/', 'text/html; charset=utf-8'],
      ['/index.html', 'text/html; charset=utf-8'],
      ['/style.css', 'text/css; charset=utf-8'],
      ['/auditor/', 'text/html; charset=utf-8'],
      ['/auditor/style.css', 'text/css; charset=utf-8'],
    ] as const) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type'], url).toBe(type);
    }
  });

  it('error: paths outside the whitelist are refused', async () => {
    for (const url of [
      '/common/../ward/app.js',
      '/common/%2e%2e/ward/app.js',
      '/../package.json',
      '/%2e%2e/package.json',
      '/..%2fpackage.json',
      '/common/..%2f..%2fpackage.json',
      '/dashboards/ward/app.js',
      '/common/missing.js',
      '/common/',
      '/tsconfig.json',
      '/globals.d.ts',
      '/common/contract',
      '/APP.JS',
      '/auditor/../../package.json',
    ]) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
    }
  });

  it('behavior: a table lists only plain names with a known type, and a missing directory lists nothing', () => {
    const table = staticFileTable(join(ROOT, 'dashboards'), '/x/');
    expect([...table.keys()]).not.toContain('/x/tsconfig.json');
    expect([...table.keys()]).not.toContain('/x/globals.d.ts');
    expect(staticFileTable(join(ROOT, 'no-such-dir'), '/').size).toBe(0);
    expect(() => staticFileTable(WARD, 'ward')).toThrow(TypeError);
  });
});
