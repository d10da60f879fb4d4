import { describe, expect, it } from 'vitest';
import { byFunction, type HeapProfileNode } from '../bench/heap-profile.js';

const node = (functionName: string, url: string, selfSize: number, children: HeapProfileNode[] = []) => ({
  callFrame: { functionName, url, lineNumber: 3 },
  selfSize,
  children,
});

describe('heap-profile (the bench tool that reads a sampling heap profile)', () => {
  it('byFunction: inclusive bytes per function, a recursion counted once, names cut to package or build tree', () => {
    // root → parse (100) → copy (300); root → commit (600) → commit (recursive, 1,000)
    const head = node('(root)', '', 0, [
      node('parse', 'file:///x/node_modules/mqtt-packet/parser.js', 100, [node('copy', 'node:buffer', 300)]),
      node('commit', 'file:///x/dist/gateway/src/store.js', 600, [
        node('commit', 'file:///x/dist/gateway/src/store.js', 1000),
      ]),
    ]);
    const { bytes, functions } = byFunction(head);
    expect(bytes).toBe(2000);
    const share = new Map(functions.map((f) => [f.name, f.share]));
    expect(share.get('(root) :3')).toBe(1);
    expect(share.get('commit gateway/src/store.js:3')).toBeCloseTo(0.8, 9);
    expect(share.get('parse nm:mqtt-packet/parser.js:3')).toBeCloseTo(0.2, 9);
    expect(share.get('copy buffer:3')).toBeCloseTo(0.15, 9);
    expect(functions.map((f) => f.name).slice(0, 2)).toEqual(['(root) :3', 'commit gateway/src/store.js:3']);
  });

  it('byFunction: an empty profile has no bytes and no shares', () => {
    expect(byFunction(node('(root)', '', 0))).toEqual({ bytes: 0, functions: [] });
  });
});
