#!/bin/sh
# The KGC bootstrap job of docker-compose.yml (one-shot, idempotent, runs as root in the
# gateway image, then hands the files to the service users):
#  1. the KGC (root + issuing CA), the simulated ward's devices and the KGC's ledger account
#     key in the KGC volume (no chain runs yet: the registry-sync job, sync-registry.sh,
#     registers the devices on chain once contracts-deploy is done);
#  2. one data dir per gateway (the KGC's root and issuing CA certificates, the envelope
#     recipient's public key), each with its own ledger account key (0600); no device is
#     copied: each gateway imports the KGC's issued certificates from a read-only mount of
#     $KGC/kgc/issued (kgc.issuedDir in gateway-N.json), at start and within seconds of any
#     later `kgc enroll --data /vt/kgc`, and reads the KGC's CRL from a read-only mount of
#     $KGC/kgc/crl at its own DATA/kgc/crl (re-read every 5 s);
#  3. the broker's TLS material (a broker CA for the server and gateway client
#     certificates, and its CRL; devices present their KGC certificates) and the generated
#     Mosquitto config + ACL (`vitaltrail config mosquitto`: max_queued_messages 0, crlfile
#     the KGC's CRL, mounted read-only at /kgc-crl).
# The KGC's CRL is signed again at every run (`kgc crl`): Mosquitto refuses every device once
# it is past its next update (7 days), so run `kgc crl` daily (README "docker-compose.yml").
# Secrets never pass through argv or the environment: they are files, mode 0600.
set -eu
VT="node /opt/vitaltrail/bin/vitaltrail.js"
KGC=/vt/kgc
BROKER=/broker
DEVICES="${WARD_DEVICES:-20}"
GATEWAYS="gw-1 gw-2"
GATEWAY_UID=10001
MOSQUITTO_UID=1883
umask 077

newkey() { node -e "process.stdout.write('0x'+require('crypto').randomBytes(32).toString('hex')+'\n')"; }

# 1. KGC and ward devices (wr-0001 …)
$VT kgc init --data "$KGC"
i=1
while [ "$i" -le "$DEVICES" ]; do
  dev=$(printf 'wr-%04d' "$i")
  [ -f "$KGC/devices/$dev/device.key.pem" ] || $VT kgc enroll --device "$dev" --data "$KGC"
  i=$((i + 1))
done
[ -f "$KGC/chain/kgc.key" ] || { mkdir -p "$KGC/chain"; newkey > "$KGC/chain/kgc.key"; }

# Envelope recipient: the gateway seals for its public key; the private key belongs offline.
if [ ! -f "$KGC/records.pub.pem" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$KGC/records.key.pem"
  openssl ec -in "$KGC/records.key.pem" -pubout -out "$KGC/records.pub.pem"
  $VT recipients add --kid records --public-key "$KGC/records.pub.pem" --data "$KGC"
  echo "move $KGC/records.key.pem to the records office (offline); the gateways never need it"
fi

# The directories the gateways mount read-only (docker-compose.yml: volume subpaths kgc/issued
# and kgc/crl). The CRL is signed now (the issuing CA's, even with nothing revoked): Mosquitto
# needs a current one to start and to take any device.
mkdir -p "$KGC/kgc/issued"
$VT kgc crl --data "$KGC"

# 2. One data dir per gateway: the KGC's public trust and the envelope recipient. Devices come
#    from the issued directory, not from here.
for gw in $GATEWAYS; do
  dir="/vt/$gw"
  mkdir -p "$dir/gateway" "$dir/kgc" "$dir/chain" "$dir/tls"
  [ -d "$dir/gateway/recipients" ] || cp -a "$KGC/gateway/recipients" "$dir/gateway/"
  cp "$KGC"/kgc/*.cert.pem "$dir/kgc/"
  # The InfluxDB sink's token, private to the gateway (its config refuses a readable file).
  cp /run/secrets/influx-admin-token "$dir/influx.token" && chmod 600 "$dir/influx.token"
  # The shared PostgreSQL's password (shared.postgres.passwordFile), private to the gateway.
  cp /run/secrets/postgres-password "$dir/postgres.password" && chmod 600 "$dir/postgres.password"
  [ -f "$dir/chain/gateway.key" ] || newkey > "$dir/chain/gateway.key"
done

# 3. Broker TLS: broker CA, server certificate (CN/SAN mosquitto), gateway client certificates.
# Gateway CNs contain ':' so the KGC (device ids: [A-Za-z0-9._-]) can never issue one.
mkdir -p "$BROKER/tls"
if [ ! -f "$BROKER/tls/broker-ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=VitalTrail broker CA" -keyout "$BROKER/tls/broker-ca.key" -out "$BROKER/tls/broker-ca.pem"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=mosquitto" \
    -addext "subjectAltName=DNS:mosquitto" -keyout "$BROKER/tls/server.key" -out "$BROKER/tls/server.csr"
  openssl x509 -req -in "$BROKER/tls/server.csr" -CA "$BROKER/tls/broker-ca.pem" -CAkey "$BROKER/tls/broker-ca.key" \
    -CAcreateserial -days 397 -copy_extensions copy -out "$BROKER/tls/server.pem"
  for gw in $GATEWAYS; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=gateway:$gw" \
      -keyout "/vt/$gw/tls/client.key" -out "/vt/$gw/tls/client.csr"
    openssl x509 -req -in "/vt/$gw/tls/client.csr" -CA "$BROKER/tls/broker-ca.pem" -CAkey "$BROKER/tls/broker-ca.key" \
      -CAcreateserial -days 397 -out "/vt/$gw/tls/client.pem"
    cp "$BROKER/tls/broker-ca.pem" "/vt/$gw/tls/broker-ca.pem"
  done
fi
# The broker CA's CRL (nothing revoked, current 10 years): with crlfile set, OpenSSL wants a CRL
# for the issuer of every client certificate, the gateways' too. Signed again at every run.
mkdir -p "$BROKER/tls/ca"
[ -f "$BROKER/tls/ca/index.txt" ] || : > "$BROKER/tls/ca/index.txt"
printf '[ca]\ndefault_ca=broker\n[broker]\ndatabase=%s\ndefault_md=sha256\ndefault_crl_days=3650\n' \
  "$BROKER/tls/ca/index.txt" > "$BROKER/tls/ca/ca.cnf"
openssl ca -batch -config "$BROKER/tls/ca/ca.cnf" -gencrl -keyfile "$BROKER/tls/broker-ca.key" \
  -cert "$BROKER/tls/broker-ca.pem" -out "$BROKER/tls/broker-ca.crl.pem"
# Mosquitto trusts the broker CA (gateways, with its CRL) and the KGC (devices; their CRL is
# the crlfile, the KGC volume's kgc/crl mounted read-only at /kgc-crl).
cat "$BROKER/tls/broker-ca.pem" "$BROKER/tls/broker-ca.crl.pem" "$KGC"/kgc/*.cert.pem > "$BROKER/tls/client-ca.pem"
$VT config mosquitto --out "$BROKER/mosquitto.conf" --acl-out "$BROKER/acl" --port 8883 \
  --cafile /mosquitto/config/tls/client-ca.pem --certfile /mosquitto/config/tls/server.pem \
  --keyfile /mosquitto/config/tls/server.key --aclfile /mosquitto/config/acl \
  --crlfile /kgc-crl/crl.pem \
  --persistence /mosquitto/data/ --gateway gateway:gw-1 --gateway gateway:gw-2

chown -R "$GATEWAY_UID" /vt
chown -R "$MOSQUITTO_UID" "$BROKER"
chmod 644 "$BROKER/mosquitto.conf" "$BROKER/acl" "$BROKER/tls/server.pem" "$BROKER/tls/client-ca.pem"
echo "bootstrap done"
