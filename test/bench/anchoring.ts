/**
 * @module test/bench/anchoring
 * Ledger cost of anchoring (issue "anchoring that never loses a checkpoint"; PROTOCOL.md §4):
 * anchors and gas per million frames at 1 000 frames/s with the default checkpoint interval,
 * beside one transaction per reading (what seed systems do). The gas of `anchor()` is measured
 * on a real anvil in the same run (cold: the log's first anchor; warm: every later one), and so
 * is the sequential anchor throughput, the reference a per-reading design would have to beat.
 *
 * Run: `npm run build && node dist/test/bench/anchoring.js [--anchors N]` (default 30 anchors).
 */
import { performance } from 'node:perf_hooks';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  ANVIL_DEV_KEY,
  createReadClient,
  createViemLedger,
  createViemRegistry,
  deployContracts,
  fundAccount,
  type Hex,
  startAnvil,
} from '../../anchor/src/ledger/index.js';
import { DEFAULT_CHECKPOINT_INTERVAL_MS } from '../../gateway/src/app/gateway.js';
import { checkpointOrigin, logIdOf } from '../../gateway/src/core/log-names.js';

const FRAMES = 1_000_000;
const RATE_HZ = 1000;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const n = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`${name} must be an integer ≥ 2`);
  return n;
}

async function main(): Promise<void> {
  const count = arg('--anchors', 30);
  const node = await startAnvil();
  try {
    const deployment = await deployContracts({ rpcUrl: node.rpcUrl, deployerKey: ANVIL_DEV_KEY });
    const registry = createViemRegistry({ rpcUrl: node.rpcUrl, deployment, privateKey: ANVIL_DEV_KEY });
    const key = generatePrivateKey();
    const account = privateKeyToAccount(key).address;
    const logId = logIdOf(checkpointOrigin('bench'));
    await fundAccount(node.rpcUrl, account);
    await registry.registerGateway(account, logId);
    const ledger = createViemLedger({ rpcUrl: node.rpcUrl, deployment, privateKey: key });
    const reader = createReadClient(node.rpcUrl, deployment.chainId);

    const gas: bigint[] = [];
    const t0 = performance.now();
    for (let i = 1; i <= count; i++) {
      const rootHash = `0x${(i * 7919).toString(16).padStart(64, '0')}` as Hex;
      const r = await ledger.anchor({ logId, treeSize: i * 10_000, rootHash, checkpointTime: Date.now() });
      gas.push((await reader.getTransactionReceipt({ hash: r.txHash })).gasUsed);
    }
    const seconds = (performance.now() - t0) / 1000;
    const cold = Number(gas[0]);
    const warm = gas.slice(1).reduce((a, b) => a + Number(b), 0) / (gas.length - 1);
    const txPerS = count / seconds;

    const intervalS = DEFAULT_CHECKPOINT_INTERVAL_MS / 1000;
    const durationS = FRAMES / RATE_HZ;
    const anchors = Math.ceil(durationS / intervalS);
    const checkpointGas = cold + (anchors - 1) * warm;
    const perReadingGas = cold + (FRAMES - 1) * warm;
    const f = (n: number) => Math.round(n).toLocaleString('en-US');
    const row = (label: string, value: string) => process.stdout.write(`${label.padEnd(52)} ${value}\n`);

    process.stdout.write(`anchor() measured on anvil ${node.rpcUrl} (${count} sequential anchors)\n`);
    row('gas per anchor, first of a log (cold storage)', f(cold));
    row('gas per anchor, later ones (warm storage)', f(warm));
    row('sequential anchors per second (reference)', `${txPerS.toFixed(1)} /s`);
    process.stdout.write(
      `\n${f(FRAMES)} frames at ${f(RATE_HZ)} frames/s = ${f(durationS)} s; checkpoint interval ${intervalS} s\n`,
    );
    row('checkpoint anchoring: transactions', f(anchors));
    row('checkpoint anchoring: gas', f(checkpointGas));
    row('one transaction per reading: transactions', f(FRAMES));
    row('one transaction per reading: gas', f(perReadingGas));
    row('ratio (per reading / per checkpoint), gas', `${(perReadingGas / checkpointGas).toFixed(0)} x`);
    row(
      'per reading needs',
      `${f(RATE_HZ)} tx/s = ${(RATE_HZ / txPerS).toFixed(1)} x the measured sequential anchor rate`,
    );
    row('per checkpoint needs', `${(1 / intervalS).toFixed(2)} tx/s`);
  } finally {
    await node.stop();
  }
}

await main();
