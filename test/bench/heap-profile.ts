/**
 * Reads a sampling heap profile (`test/bench/heap-sampler.ts` writes them): the bytes sampled,
 * then the functions by the share of those bytes allocated with them on the stack.
 *
 *   node dist/test/bench/heap-profile.js FILE [TOP]
 *
 * `byFunction` is pure (`test/unit/heap-profile.test.ts`); `main` only reads and prints.
 */
import { fileURLToPath } from 'node:url';
import { exitQuietlyOnEpipe } from '../../gateway/src/cli/inputs.js';
import { type CallFrame, callFrameName, readProfile } from './v8-profile.js';

/** The parts of a `.heapprofile` (DevTools protocol `HeapProfiler.SamplingHeapProfile`) read here. */
export interface HeapProfileNode {
  callFrame: CallFrame;
  /** Bytes sampled as allocated by this frame itself. */
  selfSize: number;
  children: HeapProfileNode[];
}

export interface ByteShare {
  name: string;
  /** Share of every sampled byte allocated with this function on the stack, 0..1. */
  share: number;
}

/** Sampled bytes in all, and each function's inclusive share (a recursion counted once). */
export function byFunction(head: HeapProfileNode): { bytes: number; functions: ByteShare[] } {
  const inclusive = new Map<string, number>();
  let bytes = 0;
  const walk = (n: HeapProfileNode, stack: readonly string[]): void => {
    const here = [...stack, callFrameName(n.callFrame)];
    if (n.selfSize > 0) {
      bytes += n.selfSize;
      for (const name of new Set(here)) inclusive.set(name, (inclusive.get(name) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, here);
  };
  walk(head, []);
  const functions = [...inclusive]
    .map(([name, b]) => ({ name, share: bytes ? b / bytes : 0 }))
    .sort((a, b) => b.share - a.share);
  return { bytes, functions };
}

function main(argv: readonly string[]): void {
  exitQuietlyOnEpipe(); // read through `head`: a closed pipe ends the listing quietly
  const [file, top] = argv;
  if (!file) {
    process.stderr.write('usage: heap-profile FILE [TOP]\n');
    process.exitCode = 2;
    return;
  }
  const profile = readProfile<{ head: HeapProfileNode }>('heap-profile', file);
  if (!profile) return;
  const { bytes, functions } = byFunction(profile.head);
  process.stdout.write(`sampled ${(bytes / 1e6).toFixed(1)} MB\n`);
  for (const f of functions.slice(0, Number(top ?? 40)))
    process.stdout.write(`${(f.share * 100).toFixed(1).padStart(5)} %  ${f.name}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
