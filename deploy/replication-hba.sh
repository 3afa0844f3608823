#!/bin/bash
# Run once by the postgres image when the primary's data directory is created
# (deploy/compose.yaml): the app's role may stream WAL to the replica, with its password.
set -e
echo "host replication kapviz all scram-sha-256" >> "$PGDATA/pg_hba.conf"
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
  -c "ALTER ROLE \"$POSTGRES_USER\" WITH REPLICATION" \
  -c "GRANT pg_monitor TO \"$POSTGRES_USER\""
