# Shared steps of the Go targets' install.sh (grpc-go, connect-go; the
# interop server uses go_env). Sourced, not run: each function takes the
# target's name first, for its messages. Every step is idempotent: it skips
# what is done.

# go_need_go NAME: Go 1.24 or newer must be there (the machine's own; Debian's
# golang-go is older), else exit 1.
go_need_go() {
    if ! command -v go >/dev/null 2>&1; then
        echo "$1 install: go (1.24+) is missing" >&2
        exit 1
    fi
}

# go_need_protoc NAME: Debian's protoc, installed only when missing.
go_need_protoc() {
    if ! command -v protoc >/dev/null 2>&1; then
        echo "$1 install: protoc missing, installing Debian's protobuf-compiler" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update >&2
        apt-get install -y --no-install-recommends protobuf-compiler >&2
    fi
}

# go_env BUILD: modules from the module proxy, the machine's toolchain only,
# the build cache under BUILD (git-ignored).
go_env() {
    export GOFLAGS=-mod=mod GOTOOLCHAIN=local
    export GOCACHE="$1/gocache"
    mkdir -p "$1"
}

# go_plugins NAME TOOLS GEN PKG@VERSION...: builds the protoc plugins into
# TOOLS from the module proxy unless they are there at those versions (a
# stamp file tells); a rebuild drops the generated code in GEN.
go_plugins() {
    local name="$1" tools="$2" gen="$3"
    shift 3
    local stamp="$tools/.versions" want="" ok=1 p
    mkdir -p "$tools"
    for p in "$@"; do
        local bin="${p%@*}"
        bin="${bin##*/}"
        want="${want:+$want }$bin ${p##*@}"
        if [ ! -x "$tools/$bin" ]; then ok=0; fi
    done
    if [ "$ok" -eq 0 ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "$name install: building $want" >&2
        for p in "$@"; do
            GOBIN="$tools" go install "$p"
        done
        echo "$want" > "$stamp"
        rm -rf "$gen"
    fi
}

# go_generate NAME ROOT TOOLS GEN OUTPUT... -- PROTOC_OPTION...: generates Go
# code from proto/grpc/testing/*.proto and proto/conformance/v1/probe.proto
# (plus the protos named, relative to proto/, in the array go_extra_protos,
# if the caller set it: the client adapters add conformance/v1/client.proto)
# into GEN (module grpcconformance, with a go.mod of its own whose
# requirements are the server's) unless each OUTPUT (paths under GEN) is
# newer than every proto.
go_generate() {
    local name="$1" root="$2" tools="$3" gen="$4"
    shift 4
    local outs=() out src
    while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do outs+=("$gen/$1"); shift; done
    shift
    local protos=("$root"/proto/grpc/testing/*.proto "$root/proto/conformance/v1/probe.proto")
    local extra
    for extra in ${go_extra_protos[@]+"${go_extra_protos[@]}"}; do protos+=("$root/proto/$extra"); done
    local stale=0
    for out in "${outs[@]}" "$gen/go.mod"; do
        if [ ! -f "$out" ]; then stale=1; continue; fi
        for src in "${protos[@]}"; do
            if [ "$src" -nt "$out" ]; then stale=1; fi
        done
    done
    if [ "$stale" -eq 1 ]; then
        echo "$name install: generating Go code from proto/" >&2
        rm -rf "$gen"
        mkdir -p "$gen"
        local rel=() p
        for p in "${protos[@]}"; do rel+=("${p#"$root/proto/"}"); done
        PATH="$tools:$PATH" protoc -I "$root/proto" "$@" "${rel[@]}"
        printf 'module grpcconformance\n\ngo 1.24\n' > "$gen/go.mod"
    fi
}

# go_build NAME SERVER BIN DIR...: builds the module in SERVER into BIN
# (go.sum as committed: -mod=readonly) unless BIN is newer than every .go,
# go.mod and go.sum under SERVER and the DIRs (the generated code, the
# shared packages).
go_build() {
    local name="$1" server="$2" bin="$3"
    shift 3
    local rebuild=0
    if [ ! -x "$bin" ]; then
        rebuild=1
    elif [ -n "$(find "$server" "$@" \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -newer "$bin" -print -quit)" ]; then
        rebuild=1
    fi
    if [ "$rebuild" -eq 1 ]; then
        echo "$name install: building $bin" >&2
        (cd "$server" && GOFLAGS=-mod=readonly go build -trimpath -o "$bin.tmp" . && mv "$bin.tmp" "$bin")
    fi
}
