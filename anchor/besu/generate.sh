#!/bin/sh
# The Besu network job of docker-compose.yml (one-shot, idempotent): generates the QBFT
# genesis with 4 validators from anchor/besu/qbft-config.json, gives each validator its
# node key (mode 0600), and writes static-nodes.json with the validators' fixed addresses
# on the compose network (172.28.0.11-14). The consortium runs with zero gas price
# (zeroBaseFee, --min-gas-price=0): accounts need no funds, so no funded key is committed.
set -eu
OUT=/besu
[ -f "$OUT/genesis.json" ] && { echo "network already generated"; exit 0; }
umask 077
besu operator generate-blockchain-config --config-file=/config/qbft-config.json \
  --to="$OUT/networkFiles" --private-key-file-name=key
cp "$OUT/networkFiles/genesis.json" "$OUT/genesis.json"
i=1
enodes=""
for d in "$OUT"/networkFiles/keys/*/; do
  mkdir -p "$OUT/node$i"
  cp "$d/key" "$OUT/node$i/key"
  pub=$(sed 's/^0x//' "$d/key.pub")
  enodes="$enodes\"enode://$pub@172.28.0.1$i:30303\","
  i=$((i + 1))
done
echo "[${enodes%,}]" > "$OUT/static-nodes.json"
chmod 644 "$OUT/genesis.json" "$OUT/static-nodes.json"
echo "QBFT network with $((i - 1)) validators generated"
