# Helpers shared by the throwaway-server scripts, sourced by each. They use
# the caller's PROG (for messages), STEP and STEP_LOG (where a failure
# happened), and its cleanup_after_failure (what to stop on the way out).

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }

show_log_tail() {
  local f="$1"
  if [ -n "$f" ] && [ -s "$f" ]; then
    printf -- '----- last 40 lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2 || true
    printf -- '----- end of %s -----\n' "$f" >&2
  elif [ -n "$f" ]; then
    printf -- '(%s is empty or missing)\n' "$f" >&2
  fi
}

die() {
  log "ERROR in step '$STEP': $1"
  if [ -n "${2:-}" ]; then
    log "log: $2"
    show_log_tail "$2"
  fi
  cleanup_after_failure
  exit 1
}

on_err() {
  local rc=$? line=$1 cmd=$2
  log "ERROR in step '$STEP': command failed (exit $rc) at line $line: $cmd"
  if [ -n "$STEP_LOG" ]; then
    log "log: $STEP_LOG"
    show_log_tail "$STEP_LOG"
  fi
  cleanup_after_failure
  exit "$rc"
}

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
  else
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
  fi
}
