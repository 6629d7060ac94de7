# Shared by scripts/fixtures.sh and scripts/client-defects.sh, which run the
# harness against deliberately defective variants and check the verdicts.
# Sourced, not run. The caller defines usage() and sets bin, out,
# run_timeout and install to their defaults first.

# defect_runs_option "$@": takes the option at $1 if it is one of the shared
# ones (--bin PATH, --out DIR, --timeout SECS, --no-install, each also as
# --opt=VALUE) and sets `consumed` to the words it took (0: not one of them).
defect_runs_option() {
    consumed=0
    case "$1" in
        --bin|--out|--timeout)
            [ "$#" -ge 2 ] || { usage; exit 2; }
            case "$1" in
                --bin) bin="$2" ;;
                --out) out="$2" ;;
                --timeout) run_timeout="$2" ;;
            esac
            consumed=2 ;;
        --bin=*) bin="${1#*=}"; consumed=1 ;;
        --out=*) out="${1#*=}"; consumed=1 ;;
        --timeout=*) run_timeout="${1#*=}"; consumed=1 ;;
        --no-install) install=0; consumed=1 ;;
    esac
}

# defect_runs_check NAME: the shared options are sound and the tools there,
# else a line naming the script NAME and exit 2.
defect_runs_check() {
    case "$run_timeout" in ''|*[!0-9]*) echo "$1: --timeout needs seconds" >&2; exit 2 ;; esac
    if [ ! -x "$bin" ]; then
        echo "$1: no harness binary at $bin (build it, or pass --bin)" >&2
        exit 2
    fi
    command -v python3 >/dev/null || { echo "$1: python3 (3.11+, for tomllib) is needed" >&2; exit 2; }
}

# defect_runs_verdicts REPORT MUST_FAIL STRICT: reads the run's report.json
# and prints, tab-separated: "ok" when every scenario of MUST_FAIL (ids,
# comma-separated) has verdict "fail" (and, when STRICT is 1, no other
# scenario failed or erred), else "bad" ("no-report" without a report); the
# aimed scenarios as id=verdict; the other scenarios that failed or erred.
defect_runs_verdicts() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
path, must_fail, strict = sys.argv[1], [m for m in sys.argv[2].split(",") if m], sys.argv[3] == "1"
try:
    with open(path) as f:
        report = json.load(f)
except (OSError, ValueError) as err:
    print("no-report\t" + " ".join(f"{m}=?" for m in must_fail) + f"\t(no report.json: {err})")
    sys.exit()
verdicts = {r["id"]: r["verdict"] for r in report.get("results", [])}
others = " ".join(f"{r['id']}={r['verdict']}" for r in report.get("results", [])
                  if r["verdict"] in ("fail", "error") and r["id"] not in must_fail)
ok = all(verdicts.get(m) == "fail" for m in must_fail) and not (strict and others)
aimed = " ".join(f"{m}={verdicts.get(m, 'absent')}" for m in must_fail) or "-"
print(("ok" if ok else "bad") + "\t" + aimed + "\t" + (others or "-"))
PY
}
