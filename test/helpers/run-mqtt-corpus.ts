/**
 * @module test/helpers/run-mqtt-corpus
 * Runs Mosquitto's packet-level conformance corpus (v3.1.1 selection, 268 cases; see
 * test/helpers/mqtt-corpus) against a broker on host:port, prints every failure with its
 * reason and then the pass count.
 *
 *   npm run build && node dist/test/helpers/run-mqtt-corpus.js 127.0.0.1:1883
 *   node dist/test/helpers/run-mqtt-corpus.js 127.0.0.1:1883 --timeout 2000 --concurrency 1 --json
 *
 * Options: `--timeout MS` per socket operation (default 1500; the harness uses 2000),
 * `--concurrency N` cases at once (default 16), `--corpus DIR` (default the checkout's
 * test/vectors/mqtt-corpus), `--only SUBSTRING` (cases whose id contains it), `--json` (one
 * JSON result per line instead of text; the summary then goes to stderr). Exit status 0 when every case passed, 1 when some
 * failed, 2 on bad usage.
 */
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_CORPUS_DIR,
  DEFAULT_TIMEOUT_MS,
  loadCorpus,
  runCorpus,
} from './mqtt-corpus.js';

const USAGE =
  'usage: run-mqtt-corpus HOST:PORT [--timeout MS] [--concurrency N] [--corpus DIR] [--only SUBSTRING] [--json]\n';

interface Args {
  host: string;
  port: number;
  timeoutMs: number;
  concurrency: number;
  corpus: string;
  only: string | undefined;
  json: boolean;
}

function parseArgs(argv: string[]): Args | null {
  const a: Partial<Args> = {
    timeoutMs: DEFAULT_TIMEOUT_MS,
    concurrency: DEFAULT_CONCURRENCY,
    corpus: DEFAULT_CORPUS_DIR,
    json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => argv[++i];
    if (arg === '--timeout') a.timeoutMs = Number(value());
    else if (arg === '--concurrency') a.concurrency = Number(value());
    else if (arg === '--corpus') a.corpus = value();
    else if (arg === '--only') a.only = value();
    else if (arg === '--json') a.json = true;
    else if (!arg.startsWith('-') && a.host === undefined) {
      const m = /^(.*):(\d+)$/.exec(arg);
      if (!m) return null;
      a.host = m[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
      a.port = Number(m[2]);
    } else return null;
  }
  if (a.host === undefined || !a.corpus) return null;
  if (!(a.port! > 0 && a.port! < 65536)) return null;
  if (!(a.timeoutMs! > 0) || !Number.isInteger(a.concurrency) || a.concurrency! < 1) return null;
  return a as Args;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (!args) {
    process.stderr.write(USAGE);
    return 2;
  }
  const all = loadCorpus(args.corpus);
  const cases = args.only === undefined ? all : all.filter((c) => c.id.includes(args.only!));
  const t0 = Date.now();
  const results = await runCorpus({
    host: args.host,
    port: args.port,
    cases,
    timeoutMs: args.timeoutMs,
    concurrency: args.concurrency,
  });
  const passed = results.filter((r) => r.pass).length;
  if (args.json) {
    for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
  } else {
    for (const r of results) if (!r.pass) process.stdout.write(`FAIL ${r.id}: ${r.why}\n`);
  }
  // The summary goes with the failures on stdout; after JSON lines, to stderr.
  (args.json ? process.stderr : process.stdout).write(
    `MQTT corpus: ${passed}/${results.length} passed against ${args.host}:${args.port} in ${Date.now() - t0} ms\n`,
  );
  return passed === results.length ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`run-mqtt-corpus failed: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 2;
  },
);
