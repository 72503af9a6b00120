#!/usr/bin/env bash
# PostgreSQL 15 for the local stack: start | stop | migrate | reset.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 server binaries not found (install Debian's postgresql-15, or set PG_BIN)"

pg_running() { [ -f "$PGDATA/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

init_cluster() {
  mkdir -p "$STACK" "$LOGS" "$PGDATA"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGDATA"; [ -n "${PG_HOME:-}" ] && chown postgres:postgres "$PG_HOME"; fi
  chmod 700 "$PGDATA"
  local pwfile; pwfile="$(mktemp)"; echo postgres >"$pwfile"; chmod 644 "$pwfile"
  as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres --pwfile="$pwfile" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$LOGS/initdb.log" 2>&1 \
    || { rm -f "$pwfile"; die "initdb failed, see $LOGS/initdb.log"; }
  rm -f "$pwfile"
  cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
CONF
  touch "$STACK/.new-database"
  rm -f "$STACK/upgraded-from"
}

# Durability. By default the cluster is durable (fsync, synchronous_commit and
# full_page_writes at PostgreSQL's defaults): an acknowledged commit (a webhook's 200, a `paid`)
# survives a crash or an immediate restart. PG_FAST=1 is a NON-DURABLE mode for benchmarks only
# (fsync/synchronous_commit/full_page_writes off: acknowledged commits can be lost, and a crash
# can corrupt the cluster). The lines are rewritten on every start, so a data folder created
# with the old non-durable defaults (or once with PG_FAST=1) is corrected at its next start.
MANAGED_MARK="# managed by scripts/db.sh (PG_FAST)"
apply_durability() {
  local conf="$PGDATA/postgresql.conf"
  [ -f "$conf" ] || return 0
  # Drop our managed lines and the unmarked ones earlier versions of this script appended.
  as_pg sed -i -E "/^(fsync|synchronous_commit|full_page_writes) = off\b/d; /^# managed by scripts\/db.sh \(PG_FAST\)/d" "$conf"
  if [ "${PG_FAST:-0}" = 1 ]; then
    echo "warning: PG_FAST=1: NON-DURABLE PostgreSQL (fsync, synchronous_commit, full_page_writes off); for benchmarks only" >&2
    printf '%s\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' "$MANAGED_MARK" | as_pg tee -a "$conf" >/dev/null
  fi
}

# A cluster outside the checkout (PG_HOME, see lib.sh) outlives it: a new clone at the same path
# would start on the data of the clone deleted before it. The checkout marks the cluster it uses
# in .stack/pg-home. A cluster without that mark, in a checkout that never migrated a database
# here (no .stack/logs/migrate.log: a fresh clone, or .stack/ deleted), is left by an earlier
# checkout: it is stopped and replaced by a new one. One that this checkout was already using
# before the mark existed gets the mark and is kept.
claim_external_cluster() {
  [ -n "${PG_HOME:-}" ] || return 0
  if [ -f "$PGDATA/PG_VERSION" ] && [ ! -f "$STACK/pg-home" ] && [ ! -f "$LOGS/migrate.log" ]; then
    echo "note: the database at $PGDATA was left by an earlier checkout at this path; starting a new one" >&2
    if pg_running; then as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null; fi
    rm -rf "$PGDATA"
  fi
  if [ -f "$PGDATA/PG_VERSION" ] || [ ! -e "$PGDATA" ]; then
    mkdir -p "$STACK"
    echo "$PG_HOME" >"$STACK/pg-home"
  fi
}

start() {
  claim_external_cluster
  if pg_running; then
    # All three settings are reloadable (sighup): a running server picks up the change too.
    apply_durability
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" reload >/dev/null
    migrate
    return 0
  fi
  reserve_ports
  if port_busy "$PG_PORT"; then die "port $PG_PORT (PostgreSQL) is busy: another server is listening there"; fi
  [ -f "$PGDATA/PG_VERSION" ] || init_cluster
  apply_durability
  touch "$PGLOG"; if [ "$(id -u)" = 0 ]; then chown postgres "$PGLOG"; fi
  [ "$PGLOG" = "$LOGS/postgres.log" ] || ln -sf "$PGLOG" "$LOGS/postgres.log"
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -o "-p $PG_PORT" -w -t 60 start >/dev/null \
    || die "PostgreSQL did not start, see $PGLOG"
  migrate
}

# Applies the migrations not yet in the history, in version order; with an argument, only those
# before that version.
apply_migrations() {
  local before="${1:-}" f base version name applied
  # The versions applied, in one query (one psql per migration took seconds on a warm start).
  applied="$(psql_db -At -c "select version from supabase_migrations.schema_migrations")" || die "cannot read the migration history"
  for f in "$ROOT"/supabase/migrations/*.sql; do
    [ -e "$f" ] || continue
    base="$(basename "$f" .sql)"; version="${base%%_*}"; name="${base#*_}"
    if [ -n "$before" ] && [[ ! "$version" < "$before" ]]; then
      break
    fi
    if grep -qxF -- "$version" <<<"$applied"; then
      continue
    fi
    # One transaction per migration, recorded in the same transaction (like the Supabase CLI).
    { cat "$f"; printf '\ninsert into supabase_migrations.schema_migrations (version, name, statements) values (%s, %s, array[%s]);\n' \
        "'$version'" "'$name'" "\$migration\$$(cat "$f")\$migration\$"; } \
      | psql_db --single-transaction -f - >>"$LOGS/migrate.log" 2>&1 \
      || die "migration $base failed, see $LOGS/migrate.log"
  done
}

# STACK_UPGRADE_FROM=<version> (scripts/test.sh sets it): a NEW database is built as an upgrade,
# the migrations before that version, then scripts/sql/live-before-<version>.sql (orders and
# events written by that schema's code), then the newer migrations and the seed. An existing
# database is only migrated.
migrate() {
  psql_db -f "$ROOT/scripts/sql/bootstrap.sql" >"$LOGS/migrate.log" 2>&1 || die "bootstrap failed, see $LOGS/migrate.log"
  local from="${STACK_UPGRADE_FROM:-}"
  if [ -n "$from" ] && [ -f "$STACK/.new-database" ]; then
    local live="$ROOT/scripts/sql/live-before-$from.sql"
    [ -f "$live" ] || die "STACK_UPGRADE_FROM=$from: no $live"
    apply_migrations "$from"
    psql_db --single-transaction -f "$live" >>"$LOGS/migrate.log" 2>&1 \
      || die "the live data before $from failed, see $LOGS/migrate.log"
    echo "upgrade: live data of the schema before $from written; the newer migrations follow" >>"$LOGS/migrate.log"
    echo "$from" >"$STACK/upgraded-from"
  fi
  apply_migrations
  if [ -f "$STACK/.new-database" ]; then
    if [ -f "$ROOT/supabase/seed.sql" ]; then
      psql_db --single-transaction -f "$ROOT/supabase/seed.sql" >>"$LOGS/migrate.log" 2>&1 || die "seed failed, see $LOGS/migrate.log"
    fi
    rm -f "$STACK/.new-database"
  fi
}

stop() {
  if pg_running; then as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null; fi
}

reset() {
  # Rebuild the database from migrations and seed, keeping the server running.
  start
  psql_db -c "drop schema if exists public cascade; drop schema if exists auth cascade; drop schema if exists supabase_migrations cascade; drop schema if exists webhooks cascade; drop schema if exists private cascade; create schema public; grant all on schema public to postgres; grant usage on schema public to public;" >/dev/null
  touch "$STACK/.new-database"
  rm -f "$STACK/upgraded-from"
  migrate
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  migrate) migrate ;;
  reset) reset ;;
  *) die "usage: $0 start|stop|migrate|reset" ;;
esac
