#!/usr/bin/env bash
# First-start initialisation for the official postgres image: mounted as
# /docker-entrypoint-initdb.d/10-gov.sh, run once on an empty data directory.
#
# The same steps as tools/govctl/src/govctl/postgres.py bootstrap() (keep the
# two in step): database gov, extensions, and one LOGIN role per service owning
# the schema of the same name.
#
# Needs CASES_DB_PASSWORD, VOLUNTEERS_DB_PASSWORD, REPORTING_DB_PASSWORD,
# NOTIFICATIONS_DB_PASSWORD, LIVELIHOOD_DB_PASSWORD.
# The passwords reach psql through \getenv, never through the command line or
# shell interpolation into SQL.
#
# The body runs in a subshell so that this file behaves the same whether the
# entrypoint executes it or (without the executable bit) sources it.

gov_init() (
  set -Eeuo pipefail

  db=gov
  services=(cases volunteers reporting notifications livelihood)

  missing=()
  for svc in "${services[@]}"; do
    var="${svc^^}_DB_PASSWORD"
    [ -n "${!var:-}" ] || missing+=("$var")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "10-gov.sh: not set: ${missing[*]} (the password of each service's login role; see deploy/compose.env)" >&2
    exit 1
  fi

  admin=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}")

  "${admin[@]}" --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" -v db="$db" <<'SQL'
select format('create database %I', :'db')
 where not exists (select from pg_database where datname = :'db') \gexec
SQL

  "${admin[@]}" --dbname "$db" <<'SQL'
create extension if not exists ltree;
create extension if not exists pg_trgm;
revoke all on database gov from public;
revoke create on schema public from public;
SQL

  # role_and_schema <service> <password variable>: role, schema and search_path are named like the service
  role_and_schema() {
    "${admin[@]}" --dbname "$db" -v svc="$1" -v pwvar="$2" <<'SQL'
\getenv pw :pwvar
select format('create role %I', :'svc')
 where not exists (select from pg_roles where rolname = :'svc') \gexec
alter role :"svc" login password :'pw' nosuperuser nocreatedb nocreaterole;
grant connect, temporary on database gov to :"svc";
create schema if not exists :"svc" authorization :"svc";
revoke all on schema :"svc" from public;
alter role :"svc" set search_path = :"svc", public;
SQL
    echo "10-gov.sh: role and schema $1 ready"
  }

  role_and_schema cases CASES_DB_PASSWORD
  role_and_schema volunteers VOLUNTEERS_DB_PASSWORD
  role_and_schema reporting REPORTING_DB_PASSWORD
  role_and_schema notifications NOTIFICATIONS_DB_PASSWORD
  role_and_schema livelihood LIVELIHOOD_DB_PASSWORD
)

gov_init
