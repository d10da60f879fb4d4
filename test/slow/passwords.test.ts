/**
 * @module test/slow/passwords
 * Slow tier: the scrypt (RFC 7914) hashing tests of test/unit/passwords-suite.ts at the
 * production cost, SCRYPT_PARAMS (N=2^15, r=8, p=1, about 32 MiB and a tenth of a second
 * per hash). The unit tier runs the same tests at a cheap test-only cost.
 */
import { describe } from 'vitest';
import { SCRYPT_PARAMS } from '../../gateway/src/core/passwords.js';
import { passwordTests } from '../unit/passwords-suite.js';

describe('passwords at the production cost (N=2^15, r=8, p=1)', () => {
  passwordTests(SCRYPT_PARAMS);
});
