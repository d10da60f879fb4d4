#!/usr/bin/env bash
# Installs the Debian tools the test suite drives for real (README "Run the tests").
# Idempotent: does nothing when every tool is already there. Needs root (or sudo) for apt-get.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v victoria-metrics >/dev/null 2>&1 || need+=(victoria-metrics)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# strace: test/integration/secret-files.test.ts reads the directory fsync after a key file's link.
command -v strace >/dev/null 2>&1 || need+=(strace)
# ss (iproute2): test/integration/mqtt-limits.test.ts reads the TCP keepalive timer of the broker's sockets.
command -v ss >/dev/null 2>&1 || need+=(iproute2)
# PostgreSQL for the state a gateway group shares (test/helpers/postgres.ts starts its own
# server in a temp dir; the package's cluster is not used, and apt does not start it here).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# Eclipse Paho for Debian's own interpreter (test/integration/mtls-paho.test.ts runs
# /usr/bin/python3: a pyenv or venv python3 earlier on PATH does not see Debian's modules).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" -c 'import paho.mqtt.client' >/dev/null 2>&1 || need+=(python3-paho-mqtt)
# The HL7 tests read every generated message with python-hl7, a parser independent of the
# gateway's own (test/helpers/hl7-py.ts).
"$PY" -c 'import hl7' >/dev/null 2>&1 || need+=(python3-hl7)
# The device maker's kit (test/integration/device-kit.test.ts): the Python example client
# signs with python3-cryptography; the C one is compiled with gcc against libmosquitto,
# libcbor and OpenSSL (headers checked, since the runtime libraries alone do not build it).
"$PY" -c 'import cryptography' >/dev/null 2>&1 || need+=(python3-cryptography)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
[ -f /usr/include/stdio.h ] || need+=(libc6-dev)
[ -f /usr/include/mosquitto.h ] || need+=(libmosquitto-dev)
[ -f /usr/include/cbor.h ] || need+=(libcbor-dev)
[ -f /usr/include/openssl/evp.h ] || need+=(libssl-dev)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "system-deps: installing ${need[*]} with apt-get" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
