# Shared settings for the local stack scripts (sourced, not run).
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="${STACK_DIR:-$ROOT/.stack}" # runtime state: data dir, logs, pids (gitignored); STACK_DIR for tests
TOOLS="$ROOT/.tools"            # installed tools (gitignored)
LOGS="$STACK/logs"
PGDATA="$STACK/pg"
PGLOG="$LOGS/postgres.log"
# As root, the server runs as the postgres OS user, which must reach the data directory. If the
# checkout is not traversable by it (a clone under /root, say), keep the cluster in a folder of
# its own named after this checkout.
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$ROOT" 2>/dev/null; then
  PG_HOME="/var/lib/postgresql/edge-stack-$(printf %s "$ROOT" | cksum | cut -d' ' -f1)"
  PGDATA="$PG_HOME/pg"
  PGLOG="$PG_HOME/postgres.log"
fi
PG_PORT="${PG_PORT:-54322}"
API_PORT="${API_PORT:-54321}"
REST_PORT="${REST_PORT:-54330}"                # postrust, behind the gateway's /rest/v1
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)}"
DB_URL="postgresql://postgres:postgres@127.0.0.1:$PG_PORT/postgres"
API_URL="http://127.0.0.1:$API_PORT"
# Tests, benchmarks and the scheduler read these: a stack on other ports is the one they talk to.
export PG_PORT API_PORT REST_PORT DB_URL API_URL
export STACK_DIR="$STACK" # and this stack's state folder (tests read .stack/function-keys there)
JWT_SECRET="super-secret-jwt-token-with-at-least-32-characters-long"
ANON_KEY="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
SERVICE_ROLE_KEY="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
# The new API keys `supabase start` prints (not JWTs: the gateway turns them into roles).
PUBLISHABLE_KEY="sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"
SECRET_KEY="sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"
# FUNCTION_KEYS=new: functions get the new keys only (no legacy key, no JWT secret).
FUNCTION_KEYS_GIVEN="${FUNCTION_KEYS:-}"  # empty: not chosen by the caller (reset keeps the running mode)
FUNCTION_KEYS="${FUNCTION_KEYS:-legacy}"
export FUNCTION_KEYS
DENO="$ROOT/node_modules/.bin/deno"
POSTRUST="$TOOLS/cargo/bin/postrust"
export DENO_DIR="$TOOLS/deno"
export DENO_NO_UPDATE_CHECK=1

die() { echo "error: $*" >&2; exit 1; }

# Run a PostgreSQL server binary as the postgres OS user when we are root (initdb refuses root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Our listening ports lie in Linux's range for outgoing connections (32768-60999 by default):
# any outgoing connection (a keep-alive between another stack's gateway and its REST server, say)
# can hold one as its source port for minutes, and the REST server then cannot bind it. When this
# runs as root, the ports are reserved from that range (net.ipv4.ip_local_reserved_ports: only
# automatic source-port choice skips them; nothing else changes). Idempotent; silent otherwise.
reserve_ports() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports cur
  [ -w "$f" ] || return 0
  cur="$(cat "$f" 2>/dev/null)" || return 0
  echo "${cur:+$cur,}$PG_PORT,$API_PORT,$REST_PORT" >"$f" 2>/dev/null || true
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_http() { # url seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  return 1
}

psql_db() { PGOPTIONS="-c client_min_messages=warning" PGPASSWORD=postgres psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q "$@"; }

# "schema.table rows" for every table of the project's schemas (all but PostgreSQL's own and
# the migration history), sorted: scripts/test.sh and scripts/bench.sh compare it before and
# after to prove they left the database as they found it.
row_counts() {
  local tables q
  tables="$(psql_db -At -c "select quote_ident(table_schema) || '.' || quote_ident(table_name) from information_schema.tables
    where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema', 'supabase_migrations')
    and table_schema not like 'pg\_%' order by 1")" || return 1
  q="$(while IFS= read -r t; do [ -n "$t" ] && printf "select '%s', count(*) from %s union all " "$t" "$t"; done <<<"$tables")"
  [ -n "$q" ] || return 0
  psql_db -At -F ' ' -c "${q% union all } order by 1"
}

# row_counts into file $1 once they hold still (the same twice, 1 s apart; at most 30 s): an
# order processed just before is still being delivered to order-events (database webhooks).
save_row_counts() { # file
  local a b i
  a="$(row_counts)" || return 1
  for ((i = 0; i < 30; i++)); do
    sleep 1
    b="$(row_counts)" || return 1
    [ "$a" != "$b" ] || break
    a="$b"
  done
  printf '%s\n' "$a" >"$1"
}

# Compares the row counts with those saved in file $1 (row_counts' output); prints the tables
# that differ as "table before -> after" and fails when any does.
same_row_counts() { # file
  local now diff
  now="$(row_counts)" || { echo "cannot count the rows"; return 1; }
  diff="$(LC_ALL=C join -a1 -a2 -e 0 -o 0,1.2,2.2 <(LC_ALL=C sort "$1") <(LC_ALL=C sort <<<"$now") | awk '$2 != $3 { print $1, $2, "->", $3 }')"
  if [ -n "$diff" ]; then
    echo "rows left behind (table before -> after):"
    echo "$diff"
    return 1
  fi
  echo "row counts as before ($(wc -l <"$1") tables)"
}

