#!/bin/sh
# PostgreSQL's first start in docker-compose.yml: the tenant acme's Info Mart (empty: the
# loader creates its schema) and a Configuration Database seeded with the contract's schema
# and the day scenario's contact center.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE DATABASE gim_config;
CREATE DATABASE gim_infomart_acme;
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname gim_config \
    -f /gim-faust/data/config-db.sql -f /gim-faust/data/scenarios/day/config.sql
