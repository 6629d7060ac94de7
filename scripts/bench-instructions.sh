#!/usr/bin/env bash
# Instructions per RPC, harness path against plain tonic, counted by
# valgrind's callgrind: a cost figure that does not move with the machine's
# load, beside the paired wall-clock pass of `cargo bench --bench throughput`
# (whose figures drift by 20-40% on a shared machine).
#
# Each side runs alone in the throughput bench (GRPC_BENCH_ONE_SIDE), once
# with 1 timed batch and once with 1 + EXTRA; the difference of the two
# totals is EXTRA batches' worth, start-up and warm-up cancelled out. The
# count covers the whole process: the client side measured and the reference
# server answering it, so "ratio" (plain / harness instructions per RPC) is
# what the harness's extra work costs out of everything one RPC costs here.
#
# Usage: scripts/bench-instructions.sh [cell ...]   cells: unary:1 streaming:1024 ...
# Environment: EXTRA (default 3) batches per measurement.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v valgrind >/dev/null; then
    echo "valgrind is missing; installing it from Debian's packages" >&2
    apt-get install -y valgrind >&2
fi

extra=${EXTRA:-3}
cells=("$@")
if [ ${#cells[@]} -eq 0 ]; then
    cells=(unary:1 unary:16 unary:256 unary:1024 streaming:1 streaming:16 streaming:256 streaming:1024)
fi

bench=$(cargo bench -p grpc-conformance --features bench --bench throughput --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "throughput" and m.get("executable"):
        print(m["executable"])')
if [ -z "$bench" ]; then
    echo "could not build the throughput bench (cargo bench -p grpc-conformance --features bench --bench throughput --no-run)" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Instructions of one run: side, kind, level, timed batches.
count() {
    (cd harness && GRPC_BENCH_ONE_SIDE="$1,$2,$3,$4" \
        valgrind --tool=callgrind --callgrind-out-file="$work/out" "$bench" --bench \
        2>"$work/log" >/dev/null) || {
        echo "callgrind run $1,$2,$3,$4 failed:" >&2
        tail -5 "$work/log" >&2
        exit 1
    }
    awk '/Collected :/ { print $4 }' "$work/log"
}

# RPCs per batch, as the bench computes it: max(8 x level, 512).
batch() { local n=$(($1 * 8)); [ "$n" -lt 512 ] && n=512; echo "$n"; }

printf '%-10s %9s %16s %16s %7s\n' kind "in flight" "harness instr/RPC" "plain instr/RPC" ratio
for cell in "${cells[@]}"; do
    kind=${cell%%:*}
    level=${cell##*:}
    rpcs=$(($(batch "$level") * extra))
    per=()
    for side in harness plain; do
        base=$(count "$side" "$kind" "$level" 1)
        more=$(count "$side" "$kind" "$level" $((1 + extra)))
        per+=($(((more - base) / rpcs)))
    done
    ratio=$(awk -v h="${per[0]}" -v p="${per[1]}" 'BEGIN { printf "%.3f", p / h }')
    printf '%-10s %9s %16s %16s %7s\n' "$kind" "$level" "${per[0]}" "${per[1]}" "$ratio"
done
