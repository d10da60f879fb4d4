#!/bin/sh
# Creates the secrets docker-compose.yml reads from .secrets/ (run once on the host, from
# the repository root, before `docker compose up`). The directory is 0700: the files are
# readable inside the containers that mount them, nowhere else. Never commit .secrets/.
set -eu
umask 077
mkdir -p .secrets
chmod 700 .secrets
for name in influx-admin-password influx-admin-token grafana-admin-password postgres-password; do
  if [ ! -s ".secrets/$name" ]; then
    openssl rand -hex 24 > ".secrets/$name"
    chmod 644 ".secrets/$name"
    echo "created .secrets/$name"
  fi
done
