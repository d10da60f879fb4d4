#!/usr/bin/env node
// Keeps package-lock.json in sync for `npm ci` on this workplace's registry, which serves
// only the linux-x64 builds of platform-specific optional packages (the others 404, so
// `npm install` leaves them out of the lockfile and `npm ci` then refuses the lockfile).
// For every optional dependency missing from the lockfile, this adds an entry that names
// its platform (from the package name), so npm skips it on every other platform.
// Run after any `npm install`:  node test/setup/lock-platform-stubs.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const OS = [
  'aix',
  'android',
  'darwin',
  'freebsd',
  'linux',
  'netbsd',
  'openbsd',
  'openharmony',
  'sunos',
  'win32',
  'cygwin',
];
const CPU = {
  x64: 'x64',
  amd64: 'x64',
  arm64: 'arm64',
  ia32: 'ia32',
  arm: 'arm',
  ppc64: 'ppc64',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips64el: 'mips64el',
};

const path = new URL('../../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
let added = 0;
for (const [where, pkg] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (lock.packages[key] || lock.packages[`${where}/${key}`]) continue;
    const parts = name.split('/').pop().split('-');
    const os = parts.find((p) => OS.includes(p)) ?? (parts.includes('win') ? 'win32' : undefined);
    const cpu = parts.map((p) => CPU[p]).find(Boolean);
    if (!os || !cpu) throw new Error(`cannot tell the platform of ${name}; add its lock entry by hand`);
    const entry = { version, optional: true, os: [os], cpu: [cpu] };
    if (parts.includes('musl')) entry.libc = ['musl'];
    if (pkg.dev) entry.dev = true;
    lock.packages[key] = entry;
    added++;
  }
}
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(`lock-platform-stubs: ${added} entr${added === 1 ? 'y' : 'ies'} added\n`);
