/**
 * @module test/helpers/hl7-py
 * An independent HL7 v2 parser for the tests of the gateway's HL7 messages (issue 19: "every
 * generated HL7 message parses with an independent HL7 v2 parser"): python-hl7 (Debian's
 * python3-hl7, installed by test/setup/system-deps.sh), run once per call on a batch of
 * messages by test/helpers/hl7_parse.py. Keys are python-hl7 accessors, e.g.
 * `MSH.F9.R1.C2` (MSH-9.2), `OBX3.F5` (OBX-5 of the third OBX), `OBX.F8.R2` (OBX-8, second
 * repetition); values come back unescaped by python-hl7, `null` where the message has no such field.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export type PyHl7 = { segments: string[]; values: Record<string, string | null> } | { error: string };

/** Debian's python, which sees Debian's modules (a pyenv python3 on PATH does not). */
const PYTHON = '/usr/bin/python3';

export function parseWithPythonHl7(messages: readonly string[], keys: readonly string[]): PyHl7[] {
  const out = execFileSync(PYTHON, [join(import.meta.dirname, 'hl7_parse.py')], {
    input: JSON.stringify({ messages, keys }),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as PyHl7[];
}
