#!/usr/bin/env bash
# The local Supabase-compatible stack, without Docker: start | stop | status | reset |
# reload (restart the functions whose files changed) | restart <postgres|rest|gateway|scheduler>
# (one part only). status exits 1 when a part is
# down; reset leaves the stack running or stopped as it found it; a failed start stops what
# it started.
#   PostgreSQL 15 on 127.0.0.1:$PG_PORT, postrust (PostgREST-compatible) behind
#   http://127.0.0.1:$API_PORT/rest/v1, the functions behind http://127.0.0.1:$API_PORT/functions/v1
#   (ports: scripts/lib.sh).
# Logs: .stack/logs/{postgres,rest,gateway,functions,scheduler,migrate}.log and
# .stack/logs/functions/<name>.log; `logs [part]` follows them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

alive() { [ -f "$STACK/$1.pid" ] && kill -0 "$(cat "$STACK/$1.pid")" 2>/dev/null; }

# Fingerprints of what a part runs from, written to $STACK/<part>.stamp when it starts: start
# and refresh restart a running part only when its fingerprint changed. REST: the applied
# migrations (postrust reads the schema at start); gateway and functions: the wasm, the
# wrappers, the config, the keys and the gateway's own code (content, not mtimes: the build
# rewrites unchanged files); scheduler: its code. Each also holds its ports and this script.
own_code() { sha256sum "$ROOT/scripts/stack.sh" "$ROOT/scripts/lib.sh"; }
rest_stamp() {
  { echo "rest $PG_PORT $REST_PORT"; own_code
    psql_db -At -c "select string_agg(version, ',' order by version) from supabase_migrations.schema_migrations" 2>/dev/null || echo "?"
  } | sha256sum | cut -c1-32
}
# The gateway's own stamp leaves out the functions' files: a running gateway reloads the
# functions whose files changed on SIGHUP (see reload_functions), the others keep running. The
# set of functions (folder names) is in it: a new or removed function restarts the gateway.
gateway_stamp() {
  { echo "gateway $API_PORT $REST_PORT $FUNCTION_KEYS $DB_URL"; own_code; function_names
    cd "$ROOT" && sha256sum scripts/gateway.ts supabase/config.toml deno.json 2>/dev/null
    sha256sum supabase/signing_keys.json supabase/functions/.env 2>/dev/null || true
  } | sha256sum | cut -c1-32
}
scheduler_stamp() {
  { echo "scheduler $API_PORT $DB_URL"; own_code; sha256sum "$ROOT/scripts/scheduler.ts"; } | sha256sum | cut -c1-32
}
# True when the part runs from what its fingerprint says now.
current() { alive "$1" && [ "$(cat "$STACK/$1.stamp" 2>/dev/null)" = "$("$1_stamp")" ]; }

# A port in Linux's ephemeral range (32768-60999, where 543xx sits) can be held for a moment by
# an outgoing connection (or a probe's TCP self-connect): a server that exits with "Address
# already in use" on a port that looked free is started again, up to 3 times.
retry_busy() { # part launch-function
  local attempt rc
  reserve_ports
  for attempt in 1 2 3; do
    rc=0; "$2" || rc=$?
    [ "$rc" = 2 ] || return "$rc"
    echo "port of $1 was taken for a moment (attempt $attempt): starting it again" >&2
    sleep 1
  done
  local port="$REST_PORT"
  [ "$1" = gateway ] && port="$API_PORT"
  die "$1: port $port stayed taken (see $LOGS/$1.log); what holds it: $(ss -tanp 2>/dev/null | awk -v p=":$port" '$4 ~ p"$"' | head -n 3 | tr -s ' ' | paste -sd ';')"
}
# 2 when the part died on a busy port since log offset $2, else dies naming its log.
died_on_busy_port() { # part offset
  rm -f "$STACK/$1.pid"
  if tail -c "+$2" "$LOGS/$1.log" | grep -q "Address already in use"; then return 2; fi
  die "the $1 exited, see $LOGS/$1.log"
}

# Waits until curl <flags> <url> succeeds (then records the part's stamp), the part exits
# (see died_on_busy_port) or <seconds> pass (dies with <message>).
await_part() { # part stamp log-offset seconds message curl-flags url
  local i
  for ((i = 0; i < $4 * 10; i++)); do
    if curl "$6" -o /dev/null --max-time 1 "$7"; then
      echo "$2" >"$STACK/$1.stamp"
      return 0
    fi
    alive "$1" || { died_on_busy_port "$1" "$3"; return; }
    sleep 0.1
  done
  die "$5"
}

start_rest() { alive rest || retry_busy rest launch_rest; }
launch_rest() {
  port_busy "$REST_PORT" && die "port $REST_PORT (REST server) is busy: another process is listening there"
  [ -x "$POSTRUST" ] || die "postrust missing: run 'make tools'"
  local stamp offset; stamp="$(rest_stamp)"
  offset=$(($(stat -c %s "$LOGS/rest.log" 2>/dev/null || echo 0) + 1))
  PGRST_DB_URI="postgres://authenticator:postgres@127.0.0.1:$PG_PORT/postgres" \
  PGRST_DB_SCHEMAS=public PGRST_DB_ANON_ROLE=anon PGRST_JWT_SECRET="$JWT_SECRET" \
  PGRST_SERVER_HOST=127.0.0.1 PGRST_SERVER_PORT="$REST_PORT" PGRST_COMPAT_MODE=true \
  PGRST_DB_POOL=40 PGRST_LOG_FORMAT=json NO_COLOR=1 \
  PGRST_ROLE_SETTINGS='{"anon":{"statement_timeout":3000},"authenticated":{"statement_timeout":8000}}' \
    setsid nohup "$POSTRUST" >>"$LOGS/rest.log" 2>&1 </dev/null &
  echo $! >"$STACK/rest.pid"
  await_part rest "$stamp" "$offset" 60 "the REST server did not start, see $LOGS/rest.log" -s "http://127.0.0.1:$REST_PORT/"
}

start_gateway() { alive gateway || retry_busy gateway launch_gateway; }
launch_gateway() {
  port_busy "$API_PORT" && die "port $API_PORT (API gateway) is busy: another process is listening there"
  [ -x "$DENO" ] || die "deno missing: run 'make tools'"
  [ -f "$ROOT/supabase/functions/.env" ] || cp "$ROOT/supabase/functions/.env.example" "$ROOT/supabase/functions/.env"
  local stamp offset; stamp="$(gateway_stamp)"
  offset=$(($(stat -c %s "$LOGS/gateway.log" 2>/dev/null || echo 0) + 1))
  API_PORT="$API_PORT" REST_PORT="$REST_PORT" JWT_SECRET="$JWT_SECRET" \
  ANON_KEY="$ANON_KEY" SERVICE_ROLE_KEY="$SERVICE_ROLE_KEY" PUBLISHABLE_KEY="$PUBLISHABLE_KEY" \
  SECRET_KEY="$SECRET_KEY" FUNCTION_KEYS="$FUNCTION_KEYS" DB_URL="$DB_URL" LOGS="$LOGS" \
    setsid nohup "$DENO" run --allow-all --no-prompt "$ROOT/scripts/gateway.ts" >>"$LOGS/gateway.log" 2>&1 </dev/null &
  echo $! >"$STACK/gateway.pid"
  echo "$FUNCTION_KEYS" >"$STACK/function-keys"
  await_part gateway "$stamp" "$offset" 120 "functions did not become ready, see $LOGS/gateway.log and $LOGS/functions.log" \
    -sf "http://127.0.0.1:$API_PORT/health"
}

# The gateway's /health field "$1" (a number or true/false), empty when it does not answer.
health_field() {
  curl -s --max-time 2 "http://127.0.0.1:$API_PORT/health" 2>/dev/null | { grep -oE "\"$1\":(true|false|[0-9]+)" || true; } | head -1 | cut -d: -f2
}

# Restart the functions whose files changed (SIGHUP to the gateway; each replacement takes over
# once it listens, the others keep their process) and wait until that is done. Prints the
# functions restarted; fails naming those whose new process did not come up.
reload_functions() {
  alive gateway || die "the gateway is not running (make start)"
  local before after pids_before pids_after i stale
  before="$(health_field reloads)"
  [ -n "$before" ] || die "the gateway does not answer /health (an older gateway? make stop && make start)"
  pids_before="$(function_pids)"
  kill -HUP "$(cat "$STACK/gateway.pid")"
  for ((i = 0; i < 600; i++)); do
    after="$(health_field reloads)"
    if [ -n "$after" ] && [ "$after" -gt "$before" ] && [ "$(health_field reloading)" = false ]; then break; fi
    sleep 0.1
  done
  [ "$(health_field reloading)" = false ] || die "functions still starting after 60 s, see $LOGS/functions.log"
  pids_after="$(function_pids)"
  RELOADED="$(LC_ALL=C comm -13 <(echo "$pids_before") <(echo "$pids_after") | cut -d' ' -f1 | paste -sd' ' -)"
  stale="$(curl -s --max-time 2 "http://127.0.0.1:$API_PORT/health" | { grep -oE '"name":"[^"]+"[^}]*"stale":true' || true; } | sed -E 's/^"name":"([^"]+)".*/\1/' | paste -sd' ' -)"
  [ -z "$stale" ] || die "the new code of: $stale did not start (the previous process keeps serving), see $LOGS/functions/<name>.log"
  # A process that listened and then failed (an error after Deno.serve) is down: say so.
  local name down=()
  if [ -n "$RELOADED" ]; then
    sleep 0.5
    for name in $RELOADED; do
      curl -s --max-time 2 "http://127.0.0.1:$API_PORT/health" | grep -qE "\"name\":\"$name\",\"ready\":true" || down+=("$name")
    done
  fi
  [ ${#down[@]} -eq 0 ] || die "restarted but not running: ${down[*]}, see $LOGS/functions/<name>.log"
}
# "name pid" per function, sorted by name (from /health).
function_pids() {
  curl -s --max-time 2 "http://127.0.0.1:$API_PORT/health" 2>/dev/null |
    { grep -oE '"name":"[^"]+","ready":(true|false),"port":[0-9]+,"pid":([0-9]+|null)' || true; } |
    sed -E 's/^"name":"([^"]+)".*"pid":([0-9]+|null)$/\1 \2/' | LC_ALL=C sort
}

# The scheduler (scripts/scheduler.ts): LISTENs for database-webhook events (the orders flow
# included) and calls webhook-dispatch; needs the gateway. Log: $LOGS/scheduler.log.
start_scheduler() {
  alive scheduler && return 0
  local stamp; stamp="$(scheduler_stamp)"
  API_URL="http://127.0.0.1:$API_PORT" DB_URL="$DB_URL" SECRET_KEY="$SECRET_KEY" \
    setsid nohup "$DENO" run --allow-all --no-prompt "$ROOT/scripts/scheduler.ts" >>"$LOGS/scheduler.log" 2>&1 </dev/null &
  echo $! >"$STACK/scheduler.pid"
  sleep 0.5
  alive scheduler || die "the scheduler exited, see $LOGS/scheduler.log"
  echo "$stamp" >"$STACK/scheduler.stamp"
}

stop_part() { # name
  if alive "$1"; then
    local pid; pid="$(cat "$STACK/$1.pid")"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$STACK/$1.pid" "$STACK/$1.stamp"
}

# The pid of this stack's PostgreSQL when it runs on PG_PORT (postmaster.pid: the server's pid
# on line 1, its port on line 4); fails when it does not.
pg_pid() {
  local pid port
  [ -r "$PGDATA/postmaster.pid" ] || return 1
  pid="$(sed -n 1p "$PGDATA/postmaster.pid")"; port="$(sed -n 4p "$PGDATA/postmaster.pid")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$port" = "$PG_PORT" ] && port_busy "$PG_PORT" || return 1
  echo "$pid"
}

# The parts running when this command began (start stops again what it started if it fails;
# reset restarts what ran).
RAN=()
note_running() {
  RAN=()
  if pg_pid >/dev/null; then RAN+=(postgres); fi
  local p
  for p in rest gateway scheduler; do if alive "$p"; then RAN+=("$p"); fi; done
}
ran() { [[ " ${RAN[*]} " == *" $1 "* ]]; }

# On a failed start: stop the parts this command started (not those that ran before it).
undo_failed_start() {
  local rc=$? p stopped=()
  [ "$rc" -ne 0 ] || return 0
  for p in scheduler gateway rest; do
    if ! ran "$p" && [ -f "$STACK/$p.pid" ]; then stop_part "$p"; stopped+=("$p"); fi
  done
  if ! ran postgres && pg_pid >/dev/null; then "$ROOT/scripts/db.sh" stop || true; stopped+=(postgres); fi
  if [ ${#stopped[@]} -gt 0 ]; then echo "start failed: stopped what it had started: ${stopped[*]}" >&2; fi
  exit "$rc"
}

# What runs, one line per part: up/down, pid, port. DOWN gets the names of the parts that are
# down, UP the number of parts up.
DOWN=()
UP=0
part_line() { # name up|down pid port
  printf '%-27s %-5s %-8s %s\n' "$1" "$2" "${3:--}" "${4:--}"
  if [ "$2" = up ]; then UP=$((UP + 1)); else DOWN+=("$1"); fi
}

# The function names as the gateway finds them (each listens on a port the OS picks).
function_names() {
  local d n
  for d in "$ROOT"/supabase/functions/*/ "$ROOT"/bench/functions/*/; do
    n="$(basename "$d")"
    [[ "$n" == _* ]] || [ ! -f "$d/index.ts" ] || echo "$n"
  done | LC_ALL=C sort -u
}

parts() {
  DOWN=()
  UP=0
  local pid="" port="" state health="" code i name
  printf '%-27s %-5s %-8s %s\n' PART STATE PID PORT
  if pid="$(pg_pid)"; then state=up; else state=down; pid=""; fi
  part_line postgres "$state" "$pid" "$PG_PORT"

  pid="$(cat "$STACK/rest.pid" 2>/dev/null || true)"
  if alive rest && port_busy "$REST_PORT"; then state=up; else state=down; pid=""; fi
  part_line rest "$state" "$pid" "$REST_PORT"

  # The gateway answers /health (503 while a function is not ready) with each function's state.
  pid="$(cat "$STACK/gateway.pid" 2>/dev/null || true)"
  state=down
  if alive gateway; then
    health="$(curl -s --max-time 2 -w '\n%{http_code}' "http://127.0.0.1:$API_PORT/health" 2>/dev/null || true)"
    code="${health##*$'\n'}"
    if [ "$code" = 200 ] || [ "$code" = 503 ]; then state=up; else health=""; fi
  fi
  [ "$state" = up ] || pid=""
  part_line gateway "$state" "$pid" "$API_PORT"

  if [ -n "$health" ]; then
    # {"name":"…","ready":true,"port":38767,"pid":123} per function (scripts/gateway.ts).
    local entries; entries="$(grep -oE '"name":"[^"]+","ready":(true|false),"port":[0-9]+,"pid":([0-9]+|null)' <<<"$health" || true)"
    while IFS= read -r e; do
      [ -n "$e" ] || continue
      name="$(sed -E 's/^"name":"([^"]+)".*/\1/' <<<"$e")"
      port="$(sed -E 's/.*"port":([0-9]+).*/\1/' <<<"$e")"
      pid="$(sed -E 's/.*"pid":([0-9]+|null).*/\1/' <<<"$e")"
      [ "$pid" = null ] && pid=""
      if [[ "$e" == *'"ready":true'* ]]; then state=up; else state=down; fi
      part_line "function $name" "$state" "$pid" "$port"
    done <<<"$entries"
  else
    while IFS= read -r name; do
      [ -n "$name" ] || continue
      part_line "function $name" down "" ""
    done < <(function_names)
  fi

  pid="$(cat "$STACK/scheduler.pid" 2>/dev/null || true)"
  if alive scheduler; then state=up; else state=down; pid=""; fi
  part_line scheduler "$state" "$pid" ""
}

# What `supabase status` prints: the URLs and keys.
urls_and_keys() {
  cat <<TXT
         API URL: http://127.0.0.1:$API_PORT
     GraphQL URL: (not provided by the local stack)
          DB URL: $DB_URL
        REST URL: http://127.0.0.1:$API_PORT/rest/v1
   Functions URL: http://127.0.0.1:$API_PORT/functions/v1
      JWT secret: $JWT_SECRET
        anon key: $ANON_KEY
service_role key: $SERVICE_ROLE_KEY
 Publishable key: $PUBLISHABLE_KEY
      Secret key: $SECRET_KEY
            Logs: $LOGS/{postgres,rest,gateway,functions,scheduler,migrate}.log, $LOGS/functions/<name>.log
TXT
  if [ "$(cat "$STACK/function-keys" 2>/dev/null || echo "$FUNCTION_KEYS")" = new ]; then
    echo "   Function keys: new only (FUNCTION_KEYS=new: no legacy key or JWT secret in the functions' env)"
  fi
}

# Each part's state, then the URLs and keys; 1 (naming the parts) when any part is down.
status() {
  parts
  echo
  urls_and_keys
  if [ ${#DOWN[@]} -gt 0 ]; then
    if [ "$UP" = 0 ]; then
      echo "error: the local stack is not running (make start)" >&2
    else
      echo "error: not running: ${DOWN[*]}" >&2
    fi
    return 1
  fi
}

case "${1:-}" in
  start | refresh)
    # refresh = start on a running stack: after a build or new migrations.
    mkdir -p "$LOGS"
    # The ports, for a later `deno test` or benchmark run without them in the environment
    # (tests/stack_env.ts reads this file).
    printf 'PG_PORT=%s\nAPI_PORT=%s\nREST_PORT=%s\n' "$PG_PORT" "$API_PORT" "$REST_PORT" >"$STACK/env"
    note_running
    trap undo_failed_start EXIT
    "$ROOT/scripts/db.sh" start
    # Already running: restart only what changed since it started (see the stamps above): REST
    # after a migration, the gateway and its functions after a build or a wrapper/config edit
    # (function processes load the wasm at start), the scheduler with the gateway.
    kept=()
    if alive rest; then if current rest; then kept+=(rest); else stop_part rest; fi; fi
    RELOADED=""
    if alive gateway; then
      if current gateway; then reload_functions; kept+=(gateway); else stop_part scheduler; stop_part gateway; fi
    fi
    if alive scheduler; then if current scheduler; then kept+=(scheduler); else stop_part scheduler; fi; fi
    start_rest
    start_gateway
    start_scheduler
    if [ ${#kept[@]} -gt 0 ]; then echo "Unchanged, left running: ${kept[*]}."; fi
    if [ -n "$RELOADED" ]; then echo "Functions restarted with their new files: $RELOADED."; fi
    echo "Local stack is running."
    status
    trap - EXIT
    ;;
  stop)
    stop_part scheduler
    stop_part gateway
    stop_part rest
    "$ROOT/scripts/db.sh" stop
    echo "Local stack stopped."
    ;;
  reload)
    # Restart only the functions whose files changed (make dev runs this after a build).
    RELOADED=""
    reload_functions
    echo "restarted: ${RELOADED:-none (no function files changed)}"
    ;;
  restart-functions)
    stop_part scheduler
    stop_part gateway
    start_gateway
    start_scheduler
    ;;
  restart)
    # One part only; the others keep running (and ride out the gap: the gateway answers 503,
    # the scheduler retries, functions retry their REST calls on the next request).
    case "${2:-}" in
      postgres)
        "$ROOT/scripts/db.sh" stop
        "$ROOT/scripts/db.sh" start
        ;;
      rest) stop_part rest; start_rest ;;
      gateway | functions) stop_part gateway; start_gateway ;;
      scheduler) stop_part scheduler; start_scheduler ;;
      *) die "usage: $0 restart postgres|rest|gateway|scheduler" ;;
    esac
    echo "restarted ${2}"
    ;;
  status) status || exit 1 ;;
  logs)
    # Follow the logs (tail -F: across restarts and files not yet created): all of them, or one
    # part (postgres, rest, gateway, functions, scheduler, migrate) or one function by name.
    part="${2:-}"
    case "$part" in
      "") files=("$LOGS"/{postgres,rest,gateway,functions,scheduler}.log) ;;
      postgres | rest | gateway | functions | scheduler | migrate) files=("$LOGS/$part.log") ;;
      *)
        if ! function_names | grep -qxF -- "$part"; then
          die "no log named '$part': postgres, rest, gateway, functions, scheduler, migrate or a function ($(function_names | paste -sd, - | sed 's/,/, /g'))"
        fi
        files=("$LOGS/functions/$part.log")
        ;;
    esac
    exec tail -n 20 -F "${files[@]}"
    ;;
  reset)
    # Rebuild the database and leave the stack as it was: the parts that ran are restarted on
    # the new database (postrust reads the schema at start; functions and the scheduler hold
    # connections), a stopped PostgreSQL is stopped again.
    note_running
    # The gateway comes back in the key mode it ran in, unless FUNCTION_KEYS says otherwise.
    if [ -z "$FUNCTION_KEYS_GIVEN" ] && ran gateway && [ -f "$STACK/function-keys" ]; then
      FUNCTION_KEYS="$(cat "$STACK/function-keys")"
    fi
    stop_part scheduler
    stop_part gateway
    stop_part rest
    "$ROOT/scripts/db.sh" reset
    if ran rest; then start_rest; fi
    if ran gateway; then start_gateway; fi
    if ran scheduler; then start_scheduler; fi
    if ! ran postgres; then "$ROOT/scripts/db.sh" stop; fi
    echo "Database rebuilt from migrations and seed."
    if [ ${#RAN[@]} -eq 0 ]; then
      echo "The stack was stopped and is stopped again (make start to run it)."
    else
      echo "Running again as before the reset: ${RAN[*]}."
    fi
    ;;
  *) die "usage: $0 start|stop|status|logs [part]|reset|refresh|reload|restart-functions|restart <part>" ;;
esac
