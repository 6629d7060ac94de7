#!/usr/bin/env bash
# The load path against h2load (nghttp2's C load generator), side by side on
# one reference server: `grpc-conformance serve` in its own process, then
# rounds that alternate h2load and the suite's channel.sustained-load
# scenario (`run --target`), the same UnaryCall, one connection, the same
# streams in flight. Prints each round's two rates and the median ratio.
#
# Usage: scripts/bench-h2load.sh [--rounds N] [--in-flight M] [--seconds S] [--bin PATH]
#
#   --rounds N      rounds of the pair (default 5)
#   --in-flight M   streams in flight on the one connection (default 64, the scenario's)
#   --seconds S     each side's load time in seconds (default 3, the scenario's)
#   --bin PATH      the harness binary (default target/release/grpc-conformance, built if missing)
#
# h2load comes from Debian's package nghttp2-client, installed if missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rounds=5
in_flight=64
seconds=3
bin="target/release/grpc-conformance"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --in-flight) in_flight="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-h2load: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

if ! command -v h2load >/dev/null; then
    echo "bench-h2load: installing h2load (Debian package nghttp2-client)" >&2
    if [[ $(id -u) -eq 0 ]]; then apt-get install -y nghttp2-client >/dev/null
    else sudo apt-get install -y nghttp2-client >/dev/null; fi
fi
if [[ ! -x "$bin" ]]; then
    cargo build --release -p grpc-conformance
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A free port, then the reference server alone on it.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --port "$port" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

# SimpleRequest{response_size: 32}, the scenario's request, with gRPC's
# 5-byte message prefix.
printf '\x00\x00\x00\x00\x02\x10\x20' >"$work/request.bin"

# The scenario with this run's streams in flight and load time.
mkdir -p "$work/scenarios/channel"
sed -e "s/^max_duration_ms = .*/max_duration_ms = $((seconds * 1000))/" \
    scenarios/channel/sustained-load.toml >"$work/scenarios/channel/sustained-load.toml"
if [[ "$in_flight" != 64 ]]; then
    echo "in_flight = $in_flight" >>"$work/scenarios/channel/sustained-load.toml"
fi

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-6s %14s %14s %7s\n' round "h2load req/s" "harness RPC/s" ratio
for round in $(seq "$rounds"); do
    h2=$(h2load -D "$seconds" -c 1 -m "$in_flight" -t 1 \
        -H 'content-type: application/grpc' -H 'te: trailers' \
        -d "$work/request.bin" \
        "http://127.0.0.1:$port/grpc.testing.TestService/UnaryCall" 2>&1 |
        awk '/^finished in/ { gsub(",", "", $4); print $4 }')
    "$bin" run --target "http://127.0.0.1:$port" --scenarios "$work/scenarios" \
        --filter channel.sustained-load --out "$work/run" >/dev/null 2>&1 || true
    ours=$(python3 - "$work/run/report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
result = next(r for r in report["results"] if r["id"] == "channel.sustained-load")
if result["verdict"] != "pass":
    sys.exit(f"channel.sustained-load: {result['verdict']}: {result.get('reason')}")
print(result["figures"]["rpcs_per_second"])
PY
)
    ratio=$(awk -v a="$ours" -v b="$h2" 'BEGIN { printf "%.3f", a / b }')
    echo "$ratio" >>"$work/ratios"
    printf '%-6s %14.0f %14.0f %7s\n' "$round" "$h2" "$ours" "$ratio"
done
echo "median ratio (harness / h2load): $(median <"$work/ratios")"
