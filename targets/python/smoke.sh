#!/usr/bin/env bash
# Smoke-tests one Python target by hand: starts targets/TARGET/run.sh on a free
# loopback port, runs smoke_client.py against it, then stops the server with
# SIGTERM and checks that it exits 0 within the grace period. The server is
# killed on any exit of this script, so nothing is left running.
#
# Usage: targets/python/smoke.sh grpcio|grpclib   (after targets/TARGET/install.sh)
set -euo pipefail

target="${1:-}"
case "$target" in grpcio|grpclib) ;; *) echo "usage: $0 grpcio|grpclib" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="$here/.venv/bin/python"
log="$(mktemp)"

port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$root/targets/$target/run.sh" "$port" 2>"$log" &
pid=$!
cleanup() {
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$log"
}
trap cleanup EXIT

echo "== $target ($("$root/targets/$target/version.sh")) on 127.0.0.1:$port"
status=0
PYTHONPATH="$root/targets/grpcio/gen" timeout 300 "$py" "$here/smoke_client.py" "127.0.0.1:$port" || status=$?

kill -TERM "$pid"
exit_code=""
for _ in $(seq 1 100); do  # up to 10 s: grace period 5 s plus margin
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" && exit_code=0 || exit_code=$?
        break
    fi
    sleep 0.1
done
if [ -z "$exit_code" ]; then
    echo "FAIL  SIGTERM: server still running after 10 s"
    status=1
elif [ "$exit_code" -ne 0 ]; then
    echo "FAIL  SIGTERM: server exited $exit_code"
    status=1
else
    echo "ok    SIGTERM: server exited 0"
fi
if [ "$status" -ne 0 ]; then
    echo "--- server log (stderr) ---"
    cat "$log"
fi
exit "$status"
