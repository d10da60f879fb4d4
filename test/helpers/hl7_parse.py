"""Reads HL7 v2 messages with python-hl7 (Debian python3-hl7), a parser independent of the
gateway's own HL7 library, for the PCD-01/PCD-04 tests (test/helpers/hl7-py.ts).

stdin: {"messages": [ER7 text, segments separated by CR], "keys": ["MSH.F9.R1.C2", ...]}
(python-hl7 accessor keys: segment[occurrence].F<field>[.R<rep>][.C<comp>][.S<sub>]).
stdout: per message {"segments": [segment ids in order], "values": {key: text or null}}, the
text unescaped by python-hl7; or {"error": "..."} when the message does not parse.
"""
import json
import sys

import hl7

request = json.load(sys.stdin)
out = []
for er7 in request["messages"]:
    try:
        msg = hl7.parse(er7)
        values = {}
        for key in request["keys"]:
            try:
                values[key] = str(msg[key])
            except (IndexError, KeyError):
                values[key] = None
        out.append({"segments": [str(s[0]) for s in msg], "values": values})
    except Exception as exc:  # a message that does not parse is reported, not fatal
        out.append({"error": f"{type(exc).__name__}: {exc}"})
json.dump(out, sys.stdout)
