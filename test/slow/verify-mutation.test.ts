/**
 * @module test/slow/verify-mutation
 * Slow tier: the mutation test of the auditor's verifier (PROTOCOL.md §5),
 * test/unit/verify-mutation-suite.ts, on the full 1,024-entry bundle (4 devices,
 * 11 checkpoints: 100, 200, …, 1000, 1024). The unit tier runs it on 128 entries.
 */
import { describeVerifierMutation } from '../unit/verify-mutation-suite.js';

describeVerifierMutation({ entries: 1024, every: 100 });
