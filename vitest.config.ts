import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Test tiers, one vitest project each (`vitest run --project <name>`):
 * - unit: pure, in-process, seconds (`npm run test:unit`); fast-check runs capped by
 *   VT_FC_RUNS (test/helpers/fc-runs.ts), 100 per property unless set;
 * - slow: the unit tests' full-size runs, a day of simulated vitals, a 1,024-entry bundle,
 *   production scrypt (`npm run test:slow`);
 * - integration and e2e: real brokers, chains, browsers and the built CLI.
 * `npm test` (CI) runs all four, with VT_FC_RUNS=10000 so every property runs its full count.
 */
const TIERS = ['unit', 'slow', 'integration', 'e2e'] as const;

// Nothing silently dropped: every test file must sit in a tier's folder.
const stray = readdirSync(fileURLToPath(new URL('./test', import.meta.url)), {
  recursive: true,
  encoding: 'utf8',
})
  .map((f) => f.replaceAll('\\', '/'))
  .filter((f) => f.endsWith('.test.ts') && !TIERS.some((tier) => f.startsWith(`${tier}/`)));
if (stray.length > 0) {
  throw new Error(`vitest.config.ts: test files outside ${TIERS.join(', ')}: ${stray.join(', ')}`);
}

function workers(env: string | undefined): number {
  if (env === undefined) return 3;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`vitest.config.ts: VT_WORKERS=${env} is not a count of workers`);
  return n;
}

export default defineConfig({
  test: {
    // Integration suites spawn real brokers, chains and browsers: give them room.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Three workers on the 2-core CI machine: many e2e files wait on real time (a 60 s soak
    // of the ward display, a webhook's retries, a gateway's restart) with the cores idle, and
    // a third worker fills that time (README "Run the tests"). VT_WORKERS=n sets another count.
    maxWorkers: workers(process.env.VT_WORKERS),
    reporters: ['default'],
    projects: TIERS.map((tier) => ({
      extends: true as const,
      // The integration and e2e files share their worker's module graph (isolate: false):
      // each file otherwise loads the gateway's whole graph again in a fresh process (viem,
      // fastify, aedes: about a second of CPU a file). Their files mock no module, restore
      // what they spy on and put back the environment they change. The unit tier keeps a
      // graph per file (isolate, the default): sharing it halves the tier's CPU time, but
      // then node:tls's createSecureContext is sometimes undefined in kgc-ca/kgc-pkcs12
      // (order-dependent).
      test: {
        name: tier,
        include: [`test/${tier}/**/*.test.ts`],
        isolate: tier === 'unit' || tier === 'slow',
      },
    })),
  },
});
