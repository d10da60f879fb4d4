/**
 * Structured logs (io/log): secrets and patient data are redacted by field name, nested
 * objects included, while identifiers, codes and counts stay readable.
 */
import { describe, expect, test } from 'vitest';
import { createLogger } from '../../gateway/src/io/ops/log.js';

describe('log redaction', () => {
  test('behavior: secret-like and patient-data fields are redacted at any depth; ids and codes stay', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    log.warn('frame rejected', {
      dev: 'wr-0001',
      seq: 7,
      code: 'bad_signature',
      password: 'hunter2',
      reading: { hr: 72, spo2: 97, temp: 3712, nested: { mrn: 'A-123', ok: 1 } },
      patient: 'Jane Doe',
    });
    const rec = JSON.parse(lines[0] as string);
    expect(rec).toMatchObject({
      level: 'warn',
      msg: 'frame rejected',
      dev: 'wr-0001',
      seq: 7,
      code: 'bad_signature',
    });
    expect(rec.password).toBe('[redacted]');
    expect(rec.patient).toBe('[redacted]');
    expect(rec.reading).toEqual({
      hr: '[redacted]',
      spo2: '[redacted]',
      temp: '[redacted]',
      nested: { mrn: '[redacted]', ok: 1 },
    });
    for (const secret of ['hunter2', 'Jane', 'A-123', '3712']) expect(lines[0]).not.toContain(secret);
  });

  test('behavior: below the level nothing is written', () => {
    const lines: string[] = [];
    createLogger({ level: 'warn', write: (l) => lines.push(l) }).info('x', { a: 1 });
    expect(lines).toEqual([]);
  });
});
