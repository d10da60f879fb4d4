#!/bin/sh
# The registry job of docker-compose.yml (one-shot, idempotent; after contracts-deploy, before
# the gateways): the KGC account writes every enrolment and revocation of the KGC volume to the
# registry contract (PROTOCOL.md §4: device id -> SHA-256 of SPKI, status, since-block), so the
# auditor's `verify --rpc` finds each device's key at the time of every anchor. A second run
# writes nothing. Run it again after enrolling or revoking offline:
#   docker compose run --rm registry-sync
# Exit 1 (a key active in the KGC was revoked on chain by someone else) is reported, not fatal:
# the gateways follow the registry's revocations; re-enrol that device.
set -eu
VT="node /opt/vitaltrail/bin/vitaltrail.js"
rc=0
$VT kgc sync-registry --data /vt/kgc --rpc http://besu-1:8545 \
  --deployment /vt/kgc/chain/deployment.json --key-file /vt/kgc/chain/kgc.key || rc=$?
[ "$rc" -le 1 ] || exit "$rc"
