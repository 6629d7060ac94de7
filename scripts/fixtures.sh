#!/usr/bin/env bash
# Runs the catalog against the defect fixtures and limited configurations of
# targets/fixtures.toml (see targets/README.md, "Defect fixtures") and checks
# that the suite catches every defect and raises no false alarm:
#
#   * the run's exit code must be the fixture's expect_exit (0 or 1);
#   * every scenario of its must_fail list must have verdict "fail" in
#     <out>/<fixture>/report.json.
#
# Usage: scripts/fixtures.sh [--runtime grpc-js|grpc-go|grpcio|grpcio-aio|grpclib ...]
#                            [--fixture NAME-OR-GLOB ...] [--bin PATH] [--out DIR]
#                            [--timeout SECS] [--no-install]
#
#   --runtime R    only the fixtures of adapter R (repeatable, or R1,R2); default all
#   --fixture F    only fixtures whose name matches F (a shell glob; repeatable)
#   --bin PATH     the harness binary (default target/release/grpc-conformance)
#   --out DIR      reports go to DIR/<fixture>/, harness logs to DIR/<fixture>.log
#                  (default out/fixtures)
#   --timeout S    bound of each harness run in seconds (default 600)
#   --no-install   do not run the adapters' install.sh first
#
# Fixtures run one at a time, each with --jobs 1. --graceful-stop SIGTERM is
# passed only when the binary's `run --help` mentions --graceful-stop. Prints
# one row per fixture and exits 1 on any mismatch (2 on usage errors).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

usage() {
    echo "usage: scripts/fixtures.sh [--runtime grpc-js|grpc-go|grpcio|grpcio-aio|grpclib ...] [--fixture NAME-OR-GLOB ...]" >&2
    echo "                           [--bin PATH] [--out DIR] [--timeout SECS] [--no-install]" >&2
}

runtimes=()
fixtures=()
bin="target/release/grpc-conformance"
out="out/fixtures"
run_timeout=600
install=1
# shellcheck source=defect-runs-lib.sh
. "$root/scripts/defect-runs-lib.sh"
while [ "$#" -gt 0 ]; do
    defect_runs_option "$@"
    if [ "$consumed" -gt 0 ]; then shift "$consumed"; continue; fi
    case "$1" in
        --runtime) [ "$#" -ge 2 ] || { usage; exit 2; }; IFS=, read -r -a more <<<"$2"; runtimes+=("${more[@]}"); shift 2 ;;
        --runtime=*) IFS=, read -r -a more <<<"${1#*=}"; runtimes+=("${more[@]}"); shift ;;
        --fixture) [ "$#" -ge 2 ] || { usage; exit 2; }; fixtures+=("$2"); shift 2 ;;
        --fixture=*) fixtures+=("${1#*=}"); shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "fixtures.sh: unknown argument '$1'" >&2; usage; exit 2 ;;
    esac
done
for r in "${runtimes[@]+"${runtimes[@]}"}"; do
    case "$r" in
        grpc-js|grpc-go|grpcio|grpcio-aio|grpclib) ;;
        *) echo "fixtures.sh: unknown runtime '$r' (grpc-js, grpc-go, grpcio, grpcio-aio, grpclib)" >&2; exit 2 ;;
    esac
done
defect_runs_check fixtures.sh

# The selected fixtures, one line each, fields separated by US (\x1f, so that
# empty fields survive `read`):
# name, target, expect_exit, expectations file, must_fail (comma-separated), args (shell-quoted).
selected="$(python3 - "$root/targets/fixtures.toml" "${runtimes[*]-}" "${fixtures[*]-}" <<'EOF'
import fnmatch, os, shlex, sys, tomllib

path, runtimes, patterns = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
with open(path, "rb") as f:
    data = tomllib.load(f)
allowed = {"name", "target", "args", "faithful", "expect_exit", "must_fail", "expectations", "why"}
names = set()
for i, fx in enumerate(data.get("fixture", [])):
    where = f"{path}: fixture #{i + 1} ({fx.get('name', '?')})"
    def need(cond, why):
        if not cond:
            sys.exit(f"{where}: {why}")
    need(not set(fx) - allowed, f"unknown keys {sorted(set(fx) - allowed)}")
    for key in ("name", "target", "why"):
        need(isinstance(fx.get(key), str) and fx[key], f"{key} must be a non-empty string")
    need(fx["name"] not in names, "duplicate name")
    names.add(fx["name"])
    need(fx["target"] in ("grpc-js", "grpc-go", "grpcio", "grpcio-aio", "grpclib"), "unknown target")
    need(isinstance(fx.get("args"), list) and all(isinstance(a, str) for a in fx["args"]), "args must be a list of strings")
    need(isinstance(fx.get("faithful"), bool), "faithful must be a bool")
    need(fx.get("expect_exit") in (0, 1), "expect_exit must be 0 or 1")
    must_fail = fx.get("must_fail", [])
    need(isinstance(must_fail, list) and all(isinstance(m, str) for m in must_fail), "must_fail must be a list of ids")
    need(not (fx["faithful"] and must_fail), "a faithful fixture has no must_fail")
    need(fx["faithful"] or must_fail, "a defective fixture needs must_fail")
    need(fx["faithful"] or fx["expect_exit"] == 1, "a defective fixture must expect exit 1")
    expectations = fx.get("expectations", f"targets/{fx['target']}/expectations.toml")
    need(os.path.isfile(expectations), f"no expectations file {expectations}")
    if runtimes and fx["target"] not in runtimes:
        continue
    if patterns and not any(fnmatch.fnmatchcase(fx["name"], p) for p in patterns):
        continue
    print("\x1f".join([fx["name"], fx["target"], str(fx["expect_exit"]), expectations,
                     ",".join(must_fail), shlex.join(fx["args"])]))
EOF
)" || exit 2
if [ -z "$selected" ]; then
    echo "fixtures.sh: no fixture selected" >&2
    exit 2
fi

graceful=()
if "$bin" run --help 2>/dev/null | grep -q -- '--graceful-stop'; then
    graceful=(--graceful-stop SIGTERM)
else
    echo "fixtures.sh: $bin has no run --graceful-stop: not passed" >&2
fi

if [ "$install" -eq 1 ]; then
    for t in $(cut -d$'\x1f' -f2 <<<"$selected" | sort -u); do
        echo "== installing $t" >&2
        if ! timeout 1800 "targets/$t/install.sh"; then
            echo "fixtures.sh: targets/$t/install.sh failed" >&2
            exit 1
        fi
    done
fi

mkdir -p "$out"
rows=()
mismatches=0
while IFS=$'\x1f' read -r name target expect_exit expectations must_fail args; do
    dir="$out/$name"
    logfile="$out/$name.log"
    mkdir -p "$(dirname "$logfile")"
    rm -rf "$dir"
    server_cmd="targets/$target/run.sh {port}${args:+ $args}"
    echo "== $name: $server_cmd" >&2
    started=$SECONDS
    code=0
    timeout -k 30 "$run_timeout" "$bin" run --server-cmd "$server_cmd" --name "$name" \
        "${graceful[@]+"${graceful[@]}"}" --expectations "$expectations" --jobs 1 --out "$dir" \
        >"$logfile" 2>&1 || code=$?
    took=$((SECONDS - started))
    # Aimed scenarios' verdicts, and the other scenarios that failed the run.
    check="$(defect_runs_verdicts "$dir/report.json" "$must_fail" 0)"
    IFS=$'\t' read -r aimed_ok aimed others <<<"$check"
    status=OK
    if [ "$code" != "$expect_exit" ] || [ "$aimed_ok" != ok ]; then
        status=MISMATCH
        mismatches=$((mismatches + 1))
    fi
    row="$(printf '%-36s %-5s %-9s %-9s %s' "$name" "$code" "$expect_exit" "$status" "$aimed")"
    rows+=("$row")
    echo "$row (${took} s; other fail/error: $others)" >&2
done <<<"$selected"  # (fields: see above)

echo
printf '%-36s %-5s %-9s %-9s %s\n' "fixture" "exit" "expected" "result" "aimed scenarios (must_fail: verdict)"
for row in "${rows[@]}"; do
    echo "$row"
done
echo
if [ "$mismatches" -gt 0 ]; then
    echo "$mismatches fixture(s) MISMATCH (reports and logs under $out/)"
    exit 1
fi
echo "all ${#rows[@]} fixture(s) OK (reports and logs under $out/)"
