"""Many Eclipse Paho (paho-mqtt 1.6, Debian python3-paho-mqtt) clients at once against a
mutual-TLS MQTT listener, for test/integration/mtls-paho.test.ts.

Reads a JSON job on stdin:
  {"host", "port", "ca", "deadline_s",
   "devices": [{"dev", "cert", "key"}, ...]}
Starts one thread per device, all released together by a barrier. Each client does what a
device that "subscribes right after connecting" does: connect() (TCP, TLS handshake with its
certificate, CONNECT), then subscribe() to vt/v1/dev/<dev>/rejects at QoS 1 at once, without
waiting for CONNACK, then runs its network loop until it has seen CONNACK and SUBACK or the
deadline passes. Prints one JSON object on stdout:
  {"results": [{"dev", "connack": rc or null, "suback": bool,
                "granted": [SUBACK return codes] or null, "error": str or null}, ...]}
"""

import json
import sys
import threading
import time

import paho.mqtt.client as mqtt


def run_one(job, device, barrier, out):
    dev = device["dev"]
    result = {"dev": dev, "connack": None, "suback": False, "granted": None, "error": None}
    out.append(result)
    client = mqtt.Client(client_id=dev, clean_session=True, protocol=mqtt.MQTTv311)
    client.tls_set(ca_certs=job["ca"], certfile=device["cert"], keyfile=device["key"])
    # The gateway's certificate names gw-test.local, not 127.0.0.1: the chain is still
    # checked against the KGC root, only the host name check is off.
    client.tls_insecure_set(True)

    def on_connect(_client, _userdata, _flags, rc):
        result["connack"] = rc

    def on_subscribe(_client, _userdata, _mid, granted_qos):
        result["suback"] = True
        result["granted"] = list(granted_qos)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    try:
        barrier.wait()
        client.connect(job["host"], job["port"], keepalive=60)
        # Right after connecting, before any CONNACK: no loop has run yet, so paho writes
        # SUBSCRIBE to the socket straight away, just behind CONNECT.
        rc, _mid = client.subscribe(f"vt/v1/dev/{dev}/rejects", qos=1)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            result["error"] = f"subscribe: {mqtt.error_string(rc)}"
        deadline = time.monotonic() + job["deadline_s"]
        while time.monotonic() < deadline and not (result["connack"] is not None and result["suback"]):
            rc = client.loop(timeout=0.1)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                result["error"] = f"loop: {mqtt.error_string(rc)}"
                break
    except Exception as err:  # noqa: BLE001 - every failure is a result, reported to the test
        result["error"] = f"{type(err).__name__}: {err}"
    finally:
        try:
            client.disconnect()
        except Exception:  # noqa: BLE001
            pass


def main():
    job = json.load(sys.stdin)
    devices = job["devices"]
    barrier = threading.Barrier(len(devices))
    out = []
    threads = [threading.Thread(target=run_one, args=(job, d, barrier, out)) for d in devices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    json.dump({"results": out}, sys.stdout)


if __name__ == "__main__":
    main()
