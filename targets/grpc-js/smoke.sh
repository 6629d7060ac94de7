#!/usr/bin/env bash
# Hand smoke test of one target adapter: starts its run.sh on a free loopback
# port, runs smoke_client.js against it, then checks that SIGTERM stops it
# gracefully (exit 0 within the 5 s grace period + margin). Kills what it
# started, by pid, whatever happens.
#   usage: targets/grpc-js/smoke.sh targets/grpc-go   (or targets/grpc-js)
#   SMOKE_SKIP_PANIC=1 leaves out the PANIC hold (grpc-go dies of it), so
#   that the SIGTERM check runs too.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
target="$(cd "${1:?usage: $0 TARGET_DIR}" && pwd)"
port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
log="$(mktemp)"

"$target/run.sh" "$port" 2>"$log" &
pid=$!
cleanup() {
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; fi
    rm -f "$log"
}
trap cleanup EXIT

# Wait (bounded) for the port to accept connections.
for _ in $(seq 1 100); do
    if node -e 'const c=require("net").connect(+process.argv[1],"127.0.0.1");c.on("connect",()=>process.exit(0));c.on("error",()=>process.exit(1))' "$port"; then
        break
    fi
    sleep 0.1
done

echo "== smoke $(basename "$target") ($("$target/version.sh")) on 127.0.0.1:$port"
timeout 120 node "$here/smoke_client.js" "127.0.0.1:$port"
rc=$?

if kill -0 "$pid" 2>/dev/null; then
    t0=$(date +%s%N)
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "FAIL SIGTERM: server still running 10 s after SIGTERM"
        rc=1
    else
        wait "$pid"; code=$?
        echo "SIGTERM: server exited $code after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
        [ "$code" -eq 0 ] || rc=1
    fi
else
    wait "$pid"; code=$?
    echo "NOTE server was not running at the end of the smoke run (exit status $code)"
fi
echo "== server stderr (last 15 lines)"
tail -n 15 "$log"
exit "$rc"
