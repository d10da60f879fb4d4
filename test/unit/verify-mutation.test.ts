/**
 * @module test/unit/verify-mutation
 * Mutation test of the auditor's verifier (PROTOCOL.md §5), verify-mutation-suite.ts, on
 * a 128-entry bundle (4 devices, 11 checkpoints, one every 12 leaves). The slow tier
 * (test/slow/verify-mutation.test.ts) runs the same test on 1,024 entries.
 */
import { describeVerifierMutation } from './verify-mutation-suite.js';

describeVerifierMutation({ entries: 128, every: 12 });
