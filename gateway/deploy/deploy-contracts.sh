#!/bin/sh
# The contracts job of docker-compose.yml (one-shot, idempotent): deploys the registry and
# anchors contracts on the Besu network once and registers both gateways' accounts with
# their logIds (`vitaltrail chain deploy`), then gives each gateway the deployment file. The
# ward's devices are registered by the next job, registry-sync (sync-registry.sh).
set -eu
VT="node /opt/vitaltrail/bin/vitaltrail.js"
$VT chain deploy --rpc http://besu-1:8545 --key-file /vt/kgc/chain/kgc.key \
  --out /vt/kgc/chain/deployment.json \
  --gateway gw-1=/vt/gw-1/chain/gateway.key --gateway gw-2=/vt/gw-2/chain/gateway.key
for gw in gw-1 gw-2; do
  cp /vt/kgc/chain/deployment.json "/vt/$gw/chain/deployment.json"
done
