#!/usr/bin/python3
"""VitalTrail example device client (PROTOCOL.md §1-2, §6), Python.

Connects to the gateway's mutual-TLS MQTT listener with the device's KGC certificate and
key, subscribes to its /rejects and /acks topics, publishes N signed frames (ES256
COSE_Sign1, a seq/prev chain from seq 1) at QoS 1, then one deliberately bad frame, and
prints every outcome as one JSON line on stdout:

  {"kind": "connected", "dev": "..."}
  {"kind": "puback", "topic": "vt/v1/dev/<dev>/frames", "seq": n}   PUBACK: frame durable
  {"kind": "ack", "topic": "vt/v1/dev/<dev>/acks", "seq": n}        application ack (external broker)
  {"kind": "reject", "topic": "vt/v1/dev/<dev>/rejects", "seq": n|null, "code": "...", "reason": "..."}
  {"kind": "done", "ok": true|false, "error": null|"..."}

Exit status 0 when every good frame was PUBACKed, no good frame was rejected and the bad
frame was rejected with the expected code; 1 otherwise.

Needs only Debian's python3-paho-mqtt (1.6) and python3-cryptography: run it with
/usr/bin/python3. The CBOR it needs (a frame is a handful of maps, ints and byte strings)
is written by hand below, in RFC 8949 §4.2.1 core deterministic encoding.

  /usr/bin/python3 vt_device.py --host 127.0.0.1 --port 8883 --ca kgc-root.pem \\
      --cert device.cert.pem --key device.key.pem --dev wr-0001 --frames 5

  /usr/bin/python3 vt_device.py --self-test ../../../test/vectors/device/frames.json
      checks this file's encoder against the kit's vectors and exits.
"""

import argparse
import hashlib
import json
import queue
import struct
import sys
import time

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

COSE_SIGN1_TAG = 18
ES256 = -7
TOPIC_ROOT = "vt/v1/dev"

# ---------------------------------------------------------------- minimal CBOR (RFC 8949)


class Tag:
    def __init__(self, tag, value):
        self.tag = tag
        self.value = value


def _head(major, n):
    """The initial byte and argument of a data item (RFC 8949 §3), shortest form."""
    if n < 24:
        return bytes([major << 5 | n])
    if n < 0x100:
        return bytes([major << 5 | 24, n])
    if n < 0x10000:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    if n < 0x100000000:
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    return bytes([major << 5 | 27]) + struct.pack(">Q", n)


def cbor(value):
    """Encodes ints, text, bytes, lists, dicts and Tag; maps in deterministic key order."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise TypeError("frames carry no bool, null or float (PROTOCOL.md §6)")
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, (bytes, bytearray)):
        return _head(2, len(value)) + bytes(value)
    if isinstance(value, str):
        b = value.encode("utf-8")
        return _head(3, len(b)) + b
    if isinstance(value, list):
        return _head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        # RFC 8949 §4.2.1: keys sorted by the bytewise order of their encodings.
        items = sorted((cbor(k), cbor(v)) for k, v in value.items())
        return _head(5, len(items)) + b"".join(k + v for k, v in items)
    if isinstance(value, Tag):
        return _head(6, value.tag) + cbor(value.value)
    raise TypeError(f"cannot encode {type(value).__name__}")


# ---------------------------------------------------------------- frames (PROTOCOL.md §1)


def protected_header(dev):
    return cbor({1: ES256, 4: dev.encode("utf-8")})


def sig_structure(protected, payload):
    """RFC 9052 §4.4: ["Signature1", protected, external_aad = h'', payload]."""
    return cbor(["Signature1", protected, b"", payload])


def es256_sign(key, data):
    """ECDSA P-256 / SHA-256 as COSE wants it: r || s, 32 bytes each (not DER)."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sign_frame(key, body):
    """The COSE_Sign1 bytes of `body` (a dict as PROTOCOL.md §1 lists it)."""
    payload = cbor(body)
    protected = protected_header(body["dev"])
    signature = es256_sign(key, sig_structure(protected, payload))
    return cbor(Tag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


class FrameChain:
    """seq from 1, prev = SHA-256 of the previous frame's complete bytes (32 zeros at seq 1).
    A real device keeps (seq, prev) in non-volatile memory across restarts."""

    def __init__(self, dev, key):
        self.dev = dev
        self.key = key
        self.seq = 0
        self.prev = bytes(32)

    def body(self, obs):
        return {"v": 1, "dev": self.dev, "seq": self.seq + 1, "ts": int(time.time() * 1000),
                "prev": self.prev, "obs": obs}

    def next(self, obs):
        frame = sign_frame(self.key, self.body(obs))
        self.seq += 1
        self.prev = hashlib.sha256(frame).digest()
        return frame


# ---------------------------------------------------------------- self-test against the kit


def self_test(path):
    """Re-encodes every frame of the kit's frames.json and verifies its signature."""
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    key = vectors["test_key"]
    public = ec.EllipticCurvePublicNumbers(int(key["x"], 16), int(key["y"], 16), ec.SECP256R1()).public_key()
    for v in vectors["frames"]:
        b = dict(v["body"])
        b["prev"] = bytes.fromhex(b["prev"])
        if "wf" in b:
            b["wf"] = dict(b["wf"], s=bytes.fromhex(b["wf"]["s"]))
        checks = {
            "body_cbor": cbor(b).hex(),
            "protected_header": protected_header(b["dev"]).hex(),
            "sig_structure": sig_structure(bytes.fromhex(v["protected_header"]), bytes.fromhex(v["body_cbor"])).hex(),
            "frame_hash": hashlib.sha256(bytes.fromhex(v["frame"])).hexdigest(),
            "leaf_hash": hashlib.sha256(b"\x00" + bytes.fromhex(v["frame"])).hexdigest(),
        }
        sig = bytes.fromhex(v["signature"])
        frame = cbor(Tag(COSE_SIGN1_TAG, [bytes.fromhex(v["protected_header"]), {}, bytes.fromhex(v["body_cbor"]), sig]))
        checks["frame"] = frame.hex()
        for field, got in checks.items():
            if got != v[field]:
                raise SystemExit(f"self-test: {v['name']}: {field} differs")
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        public.verify(der, bytes.fromhex(v["sig_structure"]), ec.ECDSA(hashes.SHA256()))
        emit({"kind": "vector", "name": v["name"], "ok": True})
    emit({"kind": "done", "ok": True, "error": None})


# ---------------------------------------------------------------- MQTT device (PROTOCOL.md §2)


def emit(event):
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def run(args):
    with open(args.key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    dev = args.dev
    frames_topic = f"{TOPIC_ROOT}/{dev}/frames"
    rejects_topic = f"{TOPIC_ROOT}/{dev}/rejects"
    acks_topic = f"{TOPIC_ROOT}/{dev}/acks"
    events = queue.Queue()

    # Client id = certificate CN = device id (PROTOCOL.md §2).
    client = mqtt.Client(client_id=dev, clean_session=True, protocol=mqtt.MQTTv311)
    # Mutual TLS: trust the KGC root for the gateway, present the device certificate (§6).
    # The gateway's certificate names 127.0.0.1 and localhost; the host name is checked.
    client.tls_set(ca_certs=args.ca, certfile=args.cert, keyfile=args.key)
    client.on_connect = lambda _c, _u, _f, rc: events.put(("connack", rc))
    client.on_subscribe = lambda _c, _u, mid, granted: events.put(("suback", list(granted)))
    client.on_publish = lambda _c, _u, mid: events.put(("puback", mid))
    client.on_message = lambda _c, _u, msg: events.put(("message", (msg.topic, bytes(msg.payload))))

    pending = {}  # mid -> seq
    seen = {"puback": set(), "ack": set(), "rejects": []}

    def handle(kind, value):
        if kind == "puback" and value in pending:
            seq = pending.pop(value)
            seen["puback"].add(seq)
            emit({"kind": "puback", "topic": frames_topic, "seq": seq})
        elif kind == "message":
            topic, payload = value
            report = json.loads(payload)
            if topic == rejects_topic:
                seen["rejects"].append(report)
                emit({"kind": "reject", "topic": topic, "seq": report.get("seq"),
                      "code": report.get("code"), "reason": report.get("reason")})
            elif topic == acks_topic:
                seen["ack"].add(report.get("seq"))
                emit({"kind": "ack", "topic": topic, "seq": report.get("seq")})

    def wait_for(predicate, what):
        deadline = time.monotonic() + args.timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out waiting for {what}")
            try:
                kind, value = events.get(timeout=left)
            except queue.Empty:
                continue
            if kind == "connack" and value != 0:
                raise ConnectionError(f"CONNACK {value}")
            state[kind] = value
            handle(kind, value)

    state = {}
    error = None
    try:
        client.connect(args.host, args.port, keepalive=60)
        client.loop_start()
        wait_for(lambda: state.get("connack") == 0, "CONNACK")
        emit({"kind": "connected", "dev": dev})
        # Subscribe before publishing: reports are not retained (QoS 1, PROTOCOL.md §2).
        client.subscribe([(rejects_topic, 1), (acks_topic, 1)])
        wait_for(lambda: "suback" in state, "SUBACK")
        if any(q not in (0, 1) for q in state["suback"]):
            raise ConnectionError(f"SUBACK refused {state['suback']}")

        chain = FrameChain(dev, key)
        for i in range(args.frames):
            frame = chain.next({"hr": 60 + i % 40, "spo2": 97, "temp": 3690})
            seq = chain.seq
            info = client.publish(frames_topic, frame, qos=1)
            pending[info.mid] = seq
            # One frame in flight: the next is sent once this one is durable (PUBACK).
            wait_for(lambda: seq in seen["puback"], f"PUBACK of seq {seq}")

        if args.bad != "none":
            if args.bad == "signature":
                # The next frame of the chain with one signature byte flipped: bad_signature.
                # The chain does not advance: a device never counts a rejected frame.
                frame = bytearray(sign_frame(key, chain.body({"hr": 61})))
                frame[-1] ^= 0x01
                bad_seq = chain.seq + 1
            else:
                frame = b"not a COSE_Sign1 frame"
                bad_seq = None  # unparsable: the reject carries "seq": null (PROTOCOL.md §6)
            info = client.publish(frames_topic, bytes(frame), qos=1)
            pending[info.mid] = bad_seq
            # A rejected frame is still PUBACKed; the verdict comes on /rejects (§6).
            wait_for(lambda: any(r.get("seq") == bad_seq for r in seen["rejects"]), "the reject")
            wait_for(lambda: bad_seq in seen["puback"], "PUBACK of the bad frame")
        good = set(range(1, args.frames + 1))
        if not good <= seen["puback"]:
            error = "a good frame was not PUBACKed"
        elif any(r.get("seq") in good for r in seen["rejects"]):
            error = "a good frame was rejected"
        elif args.bad != "none" and not any(r.get("code") == args.expect_code for r in seen["rejects"]):
            error = f"the bad frame was not rejected with {args.expect_code}"
    except Exception as err:  # noqa: BLE001 - reported as the outcome
        error = f"{type(err).__name__}: {err}"
    finally:
        client.disconnect()
        client.loop_stop()
    emit({"kind": "done", "ok": error is None, "error": error})
    return 0 if error is None else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8883)
    p.add_argument("--ca", help="KGC root certificate (PEM)")
    p.add_argument("--cert", help="device certificate (PEM)")
    p.add_argument("--key", help="device private key (PEM, P-256)")
    p.add_argument("--dev", help="device id (= certificate CN = MQTT client id)")
    p.add_argument("--frames", type=int, default=5, help="good frames to send (seq 1..N)")
    p.add_argument("--bad", choices=["signature", "malformed", "none"], default="signature",
                   help="the bad frame sent last (default: a flipped signature byte)")
    p.add_argument("--expect-code", default=None, help="code the bad frame must get (default by --bad)")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for each reply")
    p.add_argument("--self-test", metavar="FRAMES_JSON", help="check the encoder against the kit's frames.json")
    args = p.parse_args()
    if args.self_test:
        self_test(args.self_test)
        return 0
    for name in ("ca", "cert", "key", "dev"):
        if getattr(args, name) is None:
            p.error(f"--{name} is required")
    if args.expect_code is None:
        args.expect_code = {"signature": "bad_signature", "malformed": "malformed"}.get(args.bad)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
