#!/usr/bin/env bash
# Throwaway Unleash server (plus its own throwaway PostgreSQL cluster) for tests.
#
#   tests/servers/unleash.sh start DIR   -> prints exactly three lines on stdout:
#                                             UNLEASH_URL=http://127.0.0.1:PORT
#                                             UNLEASH_TOKEN=<admin API token>
#                                             UNLEASH_PID=<pid of the node process>
#   tests/servers/unleash.sh stop DIR    -> stops unleash and postgres (deletes nothing)
#
# Everything except those three lines goes to stderr or to DIR/*.log.
# See tests/servers/README.md for prerequisites and environment knobs.
set -Eeuo pipefail

UNLEASH_VERSION="${SUTURE_UNLEASH_VERSION:-7.5.1}"   # pinned; 7.5.x is the newest line that supports node 20
UNLEASH_TOKEN="${SUTURE_UNLEASH_TOKEN:-*:*.suture-test-admin-token}"
START_TIMEOUT="${SUTURE_UNLEASH_START_TIMEOUT:-90}"   # seconds to wait for GET /health == 200
CACHE_DIR="${SUTURE_SERVERS_CACHE:-$HOME/.cache/suture-test-servers}/unleash"
DB_NAME=unleash
DB_SUPERUSER=postgres

PROG="unleash.sh"
STEP="preflight"
STEP_LOG=""

# Shared helpers: log, show_log_tail, die, on_err, free_port.
# shellcheck source=tests/servers/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Things started by *this* invocation; torn down again if start fails.
STARTED_PG=0
STARTED_NODE_PID=""

cleanup_after_failure() {
  trap - ERR
  set +e
  if [ -n "$STARTED_NODE_PID" ] && kill -0 "$STARTED_NODE_PID" 2>/dev/null; then
    log "cleanup: killing unleash (pid $STARTED_NODE_PID)"
    kill -TERM "$STARTED_NODE_PID" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$STARTED_NODE_PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$STARTED_NODE_PID" 2>/dev/null
  fi
  if [ "$STARTED_PG" = 1 ]; then
    log "cleanup: stopping postgres in $DIR/pg"
    pg_stop >/dev/null 2>&1
  fi
}

usage() {
  echo "usage: $0 start DIR | stop DIR" >&2
  exit 2
}

# ---------------------------------------------------------------- postgres --

find_pg_bindir() {
  local d
  if [ -n "${SUTURE_PG_BINDIR:-}" ]; then
    echo "$SUTURE_PG_BINDIR"; return
  fi
  if command -v initdb >/dev/null 2>&1; then
    d=$(dirname "$(readlink -f "$(command -v initdb)")")
    if [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then echo "$d"; return; fi
  fi
  # Debian/Ubuntu keep the server binaries off PATH.
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir)
    if [ -x "$d/initdb" ]; then echo "$d"; return; fi
  fi
  return 1
}

# PostgreSQL refuses to run as root. When we are root, run every server-side
# PostgreSQL command as an unprivileged user (default: nobody) via setpriv.
setup_pg_user() {
  if [ "$(id -u)" = 0 ]; then
    if [ -f "$DIR/pg.user" ]; then
      PG_USER=$(cat "$DIR/pg.user")
    else
      PG_USER="${SUTURE_PG_USER:-nobody}"
    fi
    id -u "$PG_USER" >/dev/null 2>&1 || die "running as root but user '$PG_USER' (SUTURE_PG_USER) does not exist"
    [ "$(id -u "$PG_USER")" != 0 ] || die "SUTURE_PG_USER must not be root"
    PG_GROUP=$(id -g "$PG_USER")
    command -v setpriv >/dev/null 2>&1 || die "running as root needs setpriv (util-linux) to drop privileges for postgres"
  else
    PG_USER=$(id -un)
    PG_GROUP=$(id -g)
  fi
}

as_pg() {
  # Run from DIR: postgres binaries fail if the cwd is not accessible (e.g. /root).
  if [ "$(id -u)" = 0 ]; then
    (cd "$DIR" && setpriv --reuid="$PG_USER" --regid="$PG_GROUP" --clear-groups -- "$@")
  else
    (cd "$DIR" && "$@")
  fi
}

pg_stop() {
  [ -f "$DIR/pg/postmaster.pid" ] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg" -m fast -w -t 30 stop </dev/null >>"$DIR/pg_ctl.log" 2>&1 && return 0
  # pg_ctl failed: fall back to signalling the postmaster directly.
  local pid
  pid=$(head -n 1 "$DIR/pg/postmaster.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

pg_start() {
  STEP="postgres setup"; STEP_LOG=""
  setup_pg_user
  PG_BIN=$(find_pg_bindir) || die "cannot find PostgreSQL server binaries (initdb/pg_ctl/postgres); install postgresql (see tests/servers/README.md) or set SUTURE_PG_BINDIR"
  log "postgres: binaries in $PG_BIN, running as user $PG_USER"

  if [ "$(id -u)" = 0 ]; then
    echo "$PG_USER" >"$DIR/pg.user"
    # The unprivileged postgres user must be able to traverse DIR (mktemp -d makes it 0700).
    chmod o+x "$DIR"
    if ! as_pg test -x "$DIR"; then
      die "user '$PG_USER' cannot reach $DIR (a parent directory is not world-traversable); use a DIR under /tmp or set SUTURE_PG_USER"
    fi
  fi

  STEP="initdb"; STEP_LOG="$DIR/initdb.log"
  if [ -f "$DIR/pg/PG_VERSION" ]; then
    log "postgres: reusing existing cluster in $DIR/pg"
  else
    mkdir -p "$DIR/pg"
    chmod 700 "$DIR/pg"
    [ "$(id -u)" != 0 ] || chown "$PG_USER:$PG_GROUP" "$DIR/pg"
    : >"$DIR/initdb.log"
    as_pg "$PG_BIN/initdb" -D "$DIR/pg" -U "$DB_SUPERUSER" --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync \
      </dev/null >>"$DIR/initdb.log" 2>&1 || die "initdb failed" "$DIR/initdb.log"
    echo "include_if_exists = 'suture.conf'" >>"$DIR/pg/postgresql.conf"
  fi

  # Unix socket dir inside DIR (sun_path is limited to 107 bytes: fall back to TCP only).
  local sockdir="$DIR/pgsock" sockdirs
  mkdir -p "$sockdir"
  [ "$(id -u)" != 0 ] || chown "$PG_USER:$PG_GROUP" "$sockdir"
  if [ ${#sockdir} -gt 90 ]; then
    log "postgres: $sockdir is too long for a unix socket path; listening on TCP only"
    sockdirs=""
  else
    sockdirs="$sockdir"
  fi

  STEP="start postgres"; STEP_LOG="$DIR/postgres.log"
  [ "$(id -u)" != 0 ] || { touch "$DIR/postgres.log" "$DIR/pg_ctl.log"; chown "$PG_USER:$PG_GROUP" "$DIR/postgres.log" "$DIR/pg_ctl.log"; }
  local attempt
  for attempt in 1 2 3; do
    PG_PORT=$(free_port)
    cat >"$DIR/pg/suture.conf" <<EOF
# written by tests/servers/unleash.sh on every start
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$sockdirs'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
EOF
    [ "$(id -u)" != 0 ] || chown "$PG_USER:$PG_GROUP" "$DIR/pg/suture.conf"
    if as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg" -l "$DIR/postgres.log" -w -t 60 start </dev/null >>"$DIR/pg_ctl.log" 2>&1; then
      STARTED_PG=1
      break
    fi
    if grep -q "could not bind\|Address already in use" "$DIR/postgres.log" && [ "$attempt" -lt 3 ]; then
      log "postgres: port $PG_PORT was taken, retrying"
      continue
    fi
    show_log_tail "$DIR/pg_ctl.log"
    die "pg_ctl start failed (port $PG_PORT)" "$DIR/postgres.log"
  done
  PG_PID=$(head -n 1 "$DIR/pg/postmaster.pid")
  log "postgres: up on 127.0.0.1:$PG_PORT (pid $PG_PID)"

  STEP="create database"; STEP_LOG="$DIR/createdb.log"
  local exists
  exists=$("$PG_BIN/psql" -X -h 127.0.0.1 -p "$PG_PORT" -U "$DB_SUPERUSER" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" </dev/null 2>>"$DIR/createdb.log") \
    || die "psql could not connect to postgres on 127.0.0.1:$PG_PORT" "$DIR/createdb.log"
  if [ "$exists" != 1 ]; then
    "$PG_BIN/psql" -X -h 127.0.0.1 -p "$PG_PORT" -U "$DB_SUPERUSER" -d postgres -v ON_ERROR_STOP=1 \
      -c "CREATE DATABASE $DB_NAME" </dev/null >>"$DIR/createdb.log" 2>&1 \
      || die "CREATE DATABASE $DB_NAME failed" "$DIR/createdb.log"
  fi
}

# ------------------------------------------------------------------ unleash --

install_unleash() {
  STEP="npm install unleash-server@$UNLEASH_VERSION"; STEP_LOG="$DIR/npm-install.log"
  command -v node >/dev/null 2>&1 || die "node not found on PATH (need node >= 20)"
  command -v npm >/dev/null 2>&1 || die "npm not found on PATH"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "node $(node -v) is too old; unleash-server $UNLEASH_VERSION needs node >= 20"

  mkdir -p "$CACHE_DIR"
  # Serialise concurrent installs into the shared cache. fd 9 is closed again
  # afterwards so the long-running servers do not inherit (and hold) the lock.
  exec 9>"$CACHE_DIR/.lock"
  flock -w 900 9 || die "timed out waiting for the install lock $CACHE_DIR/.lock"
  if [ "$(cat "$CACHE_DIR/.installed" 2>/dev/null || true)" = "$UNLEASH_VERSION" ] \
     && [ -f "$CACHE_DIR/node_modules/unleash-server/package.json" ]; then
    log "unleash-server $UNLEASH_VERSION already installed in $CACHE_DIR"
  else
    log "installing unleash-server@$UNLEASH_VERSION into $CACHE_DIR (log: $DIR/npm-install.log)"
    rm -rf "$CACHE_DIR/node_modules" "$CACHE_DIR/package-lock.json" "$CACHE_DIR/.installed"
    printf '{\n  "name": "suture-test-unleash",\n  "private": true,\n  "dependencies": { "unleash-server": "%s" }\n}\n' \
      "$UNLEASH_VERSION" >"$CACHE_DIR/package.json"
    (cd "$CACHE_DIR" && npm install --omit=dev --no-audit --no-fund --loglevel=warn) \
      </dev/null >"$DIR/npm-install.log" 2>&1 || die "npm install failed" "$DIR/npm-install.log"
    local got
    got=$(node -p "require('$CACHE_DIR/node_modules/unleash-server/package.json').version" 2>>"$DIR/npm-install.log") \
      || die "unleash-server missing after npm install" "$DIR/npm-install.log"
    [ "$got" = "$UNLEASH_VERSION" ] || die "npm installed unleash-server $got, expected $UNLEASH_VERSION" "$DIR/npm-install.log"
    echo "$UNLEASH_VERSION" >"$CACHE_DIR/.installed"
  fi
  exec 9>&-
}

write_launcher() {
  cat >"$DIR/unleash-launcher.mjs" <<'EOF'
// Written by tests/servers/unleash.sh. Starts unleash-server with options from env.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const env = process.env;
const req = createRequire(path.join(env.SUTURE_UNLEASH_CACHE, 'package.json'));
const unleash = await import(pathToFileURL(req.resolve('unleash-server')).href);

try {
  const instance = await unleash.start({
    databaseUrl: env.SUTURE_UNLEASH_DATABASE_URL,
    db: { ssl: false, disableMigration: false },
    server: { host: '127.0.0.1', port: Number(env.SUTURE_UNLEASH_PORT), baseUriPath: '' },
    authentication: {
      type: 'open-source',
      enableApiToken: true,
      createAdminUser: true,
      initApiTokens: [
        {
          tokenName: 'suture-test-admin',
          type: 'admin',
          projects: ['*'],
          environment: '*',
          secret: env.SUTURE_UNLEASH_TOKEN,
        },
      ],
    },
    versionCheck: { enable: false },
    logLevel: env.SUTURE_UNLEASH_LOG_LEVEL || 'info',
  });
  console.log(`suture launcher: unleash ${instance.version} listening on 127.0.0.1:${env.SUTURE_UNLEASH_PORT} (pid ${process.pid})`);
} catch (err) {
  console.error('suture launcher: unleash failed to start:', err);
  process.exit(1);
}
EOF
}

start_unleash() {
  write_launcher
  STEP="start unleash"; STEP_LOG="$DIR/unleash.log"
  local attempt deadline code=""
  for attempt in 1 2 3; do
    UNLEASH_PORT=$(free_port)
    : >"$DIR/unleash.log"
    SUTURE_UNLEASH_CACHE="$CACHE_DIR" \
    SUTURE_UNLEASH_PORT="$UNLEASH_PORT" \
    SUTURE_UNLEASH_TOKEN="$UNLEASH_TOKEN" \
    SUTURE_UNLEASH_DATABASE_URL="postgres://$DB_SUPERUSER@127.0.0.1:$PG_PORT/$DB_NAME" \
    SEND_TELEMETRY=false CHECK_VERSION=false BASE_URI_PATH= TZ=UTC \
      nohup node "$DIR/unleash-launcher.mjs" </dev/null >>"$DIR/unleash.log" 2>&1 &
    STARTED_NODE_PID=$!
    echo "$STARTED_NODE_PID" >"$DIR/unleash.pid"
    log "unleash: started node pid $STARTED_NODE_PID on port $UNLEASH_PORT, waiting up to ${START_TIMEOUT}s for /health"

    STEP="wait for unleash /health"
    deadline=$((SECONDS + START_TIMEOUT))
    while :; do
      if ! kill -0 "$STARTED_NODE_PID" 2>/dev/null; then
        if grep -q "EADDRINUSE" "$DIR/unleash.log" && [ "$attempt" -lt 3 ]; then
          log "unleash: port $UNLEASH_PORT was taken, retrying"
          STARTED_NODE_PID=""
          continue 2
        fi
        die "unleash process exited before becoming healthy" "$DIR/unleash.log"
      fi
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$UNLEASH_PORT/health" || true)
      [ "$code" = 200 ] && break 2
      [ "$SECONDS" -lt "$deadline" ] || die "GET /health did not return 200 within ${START_TIMEOUT}s (last status: ${code:-none})" "$DIR/unleash.log"
      sleep 0.5
    done
  done
  [ "$code" = 200 ] || die "unleash did not start" "$DIR/unleash.log"

  STEP="verify admin token"
  local body
  body=$(curl -s -w '\n%{http_code}' --max-time 10 -H "Authorization: $UNLEASH_TOKEN" \
    "http://127.0.0.1:$UNLEASH_PORT/api/admin/projects" || true)
  [ "${body##*$'\n'}" = 200 ] || die "admin token rejected by GET /api/admin/projects: $(printf '%s' "$body" | head -c 300)" "$DIR/unleash.log"
}

pid_is_ours() {
  # pid_is_ours PID PATTERN : process alive and its command line contains PATTERN
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

cmd_start() {
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd -P)
  trap 'on_err $LINENO "$BASH_COMMAND"' ERR
  command -v curl >/dev/null 2>&1 || die "curl not found on PATH"

  if pid_is_ours "$(cat "$DIR/unleash.pid" 2>/dev/null || true)" unleash-launcher; then
    die "unleash already running from $DIR (pid $(cat "$DIR/unleash.pid")); run '$0 stop $DIR' first"
  fi
  if [ -f "$DIR/pg/postmaster.pid" ] && kill -0 "$(head -n 1 "$DIR/pg/postmaster.pid")" 2>/dev/null; then
    die "postgres already running in $DIR/pg; run '$0 stop $DIR' first"
  fi

  local t0=$SECONDS
  install_unleash
  pg_start
  start_unleash
  trap - ERR
  log "unleash $UNLEASH_VERSION ready in $((SECONDS - t0))s (logs: $DIR/unleash.log, $DIR/postgres.log)"

  printf 'UNLEASH_URL=http://127.0.0.1:%s\n' "$UNLEASH_PORT"
  printf 'UNLEASH_TOKEN=%s\n' "$UNLEASH_TOKEN"
  printf 'UNLEASH_PID=%s\n' "$STARTED_NODE_PID"
}

cmd_stop() {
  [ -d "$DIR" ] || { log "stop: $DIR does not exist, nothing to stop"; return 0; }
  DIR=$(cd "$DIR" && pwd -P)
  local rc=0 pid
  pid=$(cat "$DIR/unleash.pid" 2>/dev/null || true)
  if pid_is_ours "$pid" unleash-launcher; then
    log "stop: unleash (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then
      log "stop: unleash did not exit after SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  if [ -f "$DIR/pg/postmaster.pid" ]; then
    setup_pg_user
    PG_BIN=$(find_pg_bindir) || { log "stop: cannot find pg_ctl"; return 1; }
    log "stop: postgres in $DIR/pg"
    pg_stop || rc=1
    if [ -f "$DIR/pg/postmaster.pid" ] && kill -0 "$(head -n 1 "$DIR/pg/postmaster.pid")" 2>/dev/null; then
      log "stop: postgres still running, see $DIR/pg_ctl.log"
      rc=1
    fi
  fi
  return $rc
}

[ $# -eq 2 ] || usage
DIR="$2"
case "$1" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  *) usage ;;
esac
