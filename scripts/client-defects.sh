#!/usr/bin/env bash
# Runs the client scenarios against every client adapter of targets/targets.toml
# ([[client]] entries), faithful and with each of its deliberate defects, and
# checks that the suite catches every client defect and raises no false alarm:
#
#   * the faithful adapter (`start` as it is): exit 0, no scenario failed;
#   * each defect (`start --defect NAME`): exit 1, every client scenario that
#     lists NAME among its defects (scenarios/*/client-*.toml, `defects`, with
#     or without the "client:" prefix) has verdict "fail" in
#     <out>/<client>/<defect>/report.json, and no other scenario failed.
#
# Usage: scripts/client-defects.sh [--only NAME ...] [--bin PATH] [--out DIR]
#                                  [--timeout SECS] [--no-install]
#
#   --only NAME    only this client (repeatable, or N1,N2); default all
#   --bin PATH     the harness binary (default target/release/grpc-conformance)
#   --out DIR      reports go to DIR/<client>/<variant>/, harness logs to
#                  DIR/<client>/<variant>.log (default out/client-defects)
#   --timeout S    bound of each harness run in seconds (default 900)
#   --no-install   do not run the adapters' install commands first
#
# Variants run one at a time. Prints one row per variant and exits 1 on any
# mismatch (2 on usage errors).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

usage() {
    echo "usage: scripts/client-defects.sh [--only NAME ...] [--bin PATH] [--out DIR] [--timeout SECS] [--no-install]" >&2
}

only=()
bin="target/release/grpc-conformance"
out="out/client-defects"
run_timeout=900
install=1
# shellcheck source=defect-runs-lib.sh
. "$root/scripts/defect-runs-lib.sh"
while [ "$#" -gt 0 ]; do
    defect_runs_option "$@"
    if [ "$consumed" -gt 0 ]; then shift "$consumed"; continue; fi
    case "$1" in
        --only) [ "$#" -ge 2 ] || { usage; exit 2; }; IFS=, read -r -a more <<<"$2"; only+=("${more[@]}"); shift 2 ;;
        --only=*) IFS=, read -r -a more <<<"${1#*=}"; only+=("${more[@]}"); shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "client-defects.sh: unknown argument '$1'" >&2; usage; exit 2 ;;
    esac
done
defect_runs_check client-defects.sh

# The variants to run, one line each, fields separated by US (\x1f, so that
# empty fields survive `read`): client, variant ("faithful" or the defect),
# install command, adapter command, aimed scenarios (comma-separated).
selected="$(python3 - "$root/targets/targets.toml" "$root/scenarios" "${only[*]-}" <<'EOF'
import glob, os, sys, tomllib

path, scenarios, only = sys.argv[1], sys.argv[2], sys.argv[3].split()
with open(path, "rb") as f:
    clients = tomllib.load(f).get("client", [])
# Which client scenarios list which defect.
aimed = {}
for file in sorted(glob.glob(os.path.join(scenarios, "*", "client-*.toml"))):
    with open(file, "rb") as f:
        scenario = tomllib.load(f)
    for d in scenario.get("defects", []):
        aimed.setdefault(d.split(":", 1)[-1], []).append(scenario["id"])
names = set()
for i, c in enumerate(clients):
    where = f"{path}: client #{i + 1} ({c.get('name', '?')})"
    for key in ("name", "install", "start"):
        if not isinstance(c.get(key), str) or not c[key]:
            sys.exit(f"{where}: {key} must be a non-empty string")
    if c["name"] in names:
        sys.exit(f"{where}: duplicate name")
    names.add(c["name"])
    if only and c["name"] not in only:
        continue
    print("\x1f".join([c["name"], "faithful", c["install"], c["start"], ""]))
    for d in c.get("defects", []):
        if not aimed.get(d):
            sys.exit(f"{where}: no client scenario lists the defect {d!r}")
        print("\x1f".join([c["name"], d, c["install"], f"{c['start']} --defect {d}", ",".join(aimed[d])]))
unknown = set(only) - names
if unknown:
    sys.exit(f"{path}: no client named {', '.join(sorted(unknown))}")
EOF
)" || exit 2
if [ -z "$selected" ]; then
    echo "client-defects.sh: no client selected" >&2
    exit 2
fi

if [ "$install" -eq 1 ]; then
    while IFS=$'\x1f' read -r client install_cmd; do
        echo "== installing $client" >&2
        if ! timeout 1800 sh -c "$install_cmd"; then
            echo "client-defects.sh: $install_cmd failed" >&2
            exit 1
        fi
    done < <(awk -F$'\x1f' '$2 == "faithful" { print $1 "\x1f" $3 }' <<<"$selected")
fi

rows=()
mismatches=0
while IFS=$'\x1f' read -r client variant _install cmd must_fail; do
    dir="$out/$client/$variant"
    logfile="$out/$client/$variant.log"
    mkdir -p "$out/$client"
    rm -rf "$dir"
    expect_exit=1
    [ "$variant" = faithful ] && expect_exit=0
    echo "== $client $variant: $cmd" >&2
    started=$SECONDS
    code=0
    name="$client-client"
    [ "$variant" = faithful ] || name="$name/$variant"
    timeout -k 30 "$run_timeout" "$bin" run --client-cmd "$cmd" --name "$name" \
        --out "$dir" >"$logfile" 2>&1 </dev/null || code=$?
    took=$((SECONDS - started))
    # The aimed scenarios' verdicts, and the other scenarios that failed.
    check="$(defect_runs_verdicts "$dir/report.json" "$must_fail" 1)"
    IFS=$'\t' read -r aimed_ok aimed others <<<"$check"
    status=OK
    if [ "$code" != "$expect_exit" ] || [ "$aimed_ok" != ok ]; then
        status=MISMATCH
        mismatches=$((mismatches + 1))
    fi
    row="$(printf '%-11s %-25s %-5s %-9s %-9s %s | others: %s' "$client" "$variant" "$code" "$expect_exit" "$status" "$aimed" "$others")"
    rows+=("$row")
    echo "$row (${took} s)" >&2
done <<<"$selected"

echo
printf '%-11s %-25s %-5s %-9s %-9s %s\n' "client" "variant" "exit" "expected" "result" "aimed scenarios: verdict | other scenarios failed"
for row in "${rows[@]}"; do
    echo "$row"
done
echo
if [ "$mismatches" -gt 0 ]; then
    echo "$mismatches variant(s) MISMATCH (reports and logs under $out/)"
    exit 1
fi
echo "all ${#rows[@]} variant(s) OK (reports and logs under $out/)"
