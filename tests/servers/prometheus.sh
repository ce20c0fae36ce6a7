#!/usr/bin/env bash
# Throwaway Prometheus for tests, scraping one target every second.
#
#   tests/servers/prometheus.sh start DIR TARGET   (TARGET = host:port serving /metrics)
#       -> prints exactly two lines on stdout:
#            PROMETHEUS_URL=http://127.0.0.1:PORT
#            PROMETHEUS_PID=<pid>
#   tests/servers/prometheus.sh stop DIR            (deletes nothing)
#
# Config goes to DIR/prometheus.yml, TSDB to DIR/data, log to DIR/prometheus.log.
# See tests/servers/README.md for prerequisites.
set -Eeuo pipefail

START_TIMEOUT="${SUTURE_PROMETHEUS_START_TIMEOUT:-30}"   # seconds to wait for /-/ready
PROG="prometheus.sh"
STEP="preflight"
STEP_LOG=""
STARTED_PID=""

# Shared helpers: log, show_log_tail, die, on_err, free_port.
# shellcheck source=tests/servers/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cleanup_after_failure() {
  trap - ERR
  set +e
  if [ -n "$STARTED_PID" ] && kill -0 "$STARTED_PID" 2>/dev/null; then
    log "cleanup: killing prometheus (pid $STARTED_PID)"
    kill -TERM "$STARTED_PID" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 "$STARTED_PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$STARTED_PID" 2>/dev/null
  fi
}

usage() {
  echo "usage: $0 start DIR TARGET | stop DIR" >&2
  exit 2
}

pid_is_ours() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

cmd_start() {
  local target="$1"
  trap 'on_err $LINENO "$BASH_COMMAND"' ERR
  [[ "$target" =~ ^[A-Za-z0-9._-]+:[0-9]+$ || "$target" =~ ^\[[0-9A-Fa-f:]+\]:[0-9]+$ ]] \
    || die "TARGET must look like host:port (e.g. 127.0.0.1:9123), got '$target'"
  command -v prometheus >/dev/null 2>&1 || die "prometheus not found on PATH (Debian: apt-get install -y prometheus)"
  command -v curl >/dev/null 2>&1 || die "curl not found on PATH"
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd -P)
  if pid_is_ours "$(cat "$DIR/prometheus.pid" 2>/dev/null || true)" "$DIR/prometheus.yml"; then
    die "prometheus already running from $DIR (pid $(cat "$DIR/prometheus.pid")); run '$0 stop $DIR' first"
  fi

  STEP="write config"
  mkdir -p "$DIR/data"
  cat >"$DIR/prometheus.yml" <<EOF
# written by tests/servers/prometheus.sh
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: suture-canary
    metrics_path: /metrics
    static_configs:
      - targets: ['$target']
EOF
  STEP="check config"; STEP_LOG="$DIR/promtool.log"
  if command -v promtool >/dev/null 2>&1; then
    promtool check config "$DIR/prometheus.yml" </dev/null >"$DIR/promtool.log" 2>&1 \
      || die "promtool check config failed" "$DIR/promtool.log"
  fi

  local t0=$SECONDS attempt deadline code="" port
  for attempt in 1 2 3; do
    STEP="start prometheus"; STEP_LOG="$DIR/prometheus.log"
    port=$(free_port)
    : >"$DIR/prometheus.log"
    (cd "$DIR" && exec nohup prometheus \
        --config.file="$DIR/prometheus.yml" \
        --storage.tsdb.path="$DIR/data" \
        --web.listen-address="127.0.0.1:$port" \
        </dev/null >>"$DIR/prometheus.log" 2>&1) &
    STARTED_PID=$!
    echo "$STARTED_PID" >"$DIR/prometheus.pid"
    log "prometheus: started pid $STARTED_PID on port $port scraping $target, waiting up to ${START_TIMEOUT}s for /-/ready"

    STEP="wait for prometheus /-/ready"
    deadline=$((SECONDS + START_TIMEOUT))
    while :; do
      if ! kill -0 "$STARTED_PID" 2>/dev/null; then
        if grep -q "address already in use" "$DIR/prometheus.log" && [ "$attempt" -lt 3 ]; then
          log "prometheus: port $port was taken, retrying"
          STARTED_PID=""
          continue 2
        fi
        die "prometheus exited before becoming ready" "$DIR/prometheus.log"
      fi
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/-/ready" || true)
      [ "$code" = 200 ] && break 2
      [ "$SECONDS" -lt "$deadline" ] || die "GET /-/ready did not return 200 within ${START_TIMEOUT}s (last status: ${code:-none})" "$DIR/prometheus.log"
      sleep 0.25
    done
  done
  [ "$code" = 200 ] || die "prometheus did not start" "$DIR/prometheus.log"
  trap - ERR
  log "prometheus $(prometheus --version 2>&1 | head -n 1 | awk '{print $3}') ready in $((SECONDS - t0))s (log: $DIR/prometheus.log)"

  printf 'PROMETHEUS_URL=http://127.0.0.1:%s\n' "$port"
  printf 'PROMETHEUS_PID=%s\n' "$STARTED_PID"
}

cmd_stop() {
  [ -d "$DIR" ] || { log "stop: $DIR does not exist, nothing to stop"; return 0; }
  DIR=$(cd "$DIR" && pwd -P)
  local pid
  pid=$(cat "$DIR/prometheus.pid" 2>/dev/null || true)
  if pid_is_ours "$pid" "$DIR/prometheus.yml"; then
    log "stop: prometheus (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
    log "stop: prometheus did not exit after SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  return 0
}

[ $# -ge 2 ] || usage
DIR="$2"
case "$1" in
  start) [ $# -eq 3 ] || usage; cmd_start "$3" ;;
  stop) [ $# -eq 2 ] || usage; cmd_stop ;;
  *) usage ;;
esac
