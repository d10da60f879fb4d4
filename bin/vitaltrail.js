#!/usr/bin/env node
// The `vitaltrail` command: runs the compiled CLI (built by `npm ci` / `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/gateway/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    'vitaltrail: not built yet; run `npm ci` (or `npm run build`) in the repository first\n',
  );
  process.exit(2);
}
const { main } = await import(entry.href);
await main(process.argv);
