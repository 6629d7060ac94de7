#!/usr/bin/env bash
# Installs the grpc-java target: grpc-java 1.85.1 (grpc-netty, grpc-protobuf,
# grpc-stub) and protobuf-java from Maven Central, messages generated from
# proto/ by protoc 3.25.9 from Maven Central (protobuf-maven-plugin), the
# adapter compiled into targets/grpc-java/build/ (git-ignored) and its runtime
# classpath written to build/classpath.txt (jars in Maven's local repository).
# Idempotent: skips Maven when the classes are newer than every input.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$here/build"

for tool in java mvn; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "grpc-java install: $tool missing, installing Debian's default-jdk-headless and maven" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update >&2
        apt-get install -y --no-install-recommends default-jdk-headless maven >&2
        break
    fi
done

stamp="$build/.install-stamp"
if [ -f "$stamp" ] && [ -f "$build/classpath.txt" ] \
        && [ -z "$(find "$here/pom.xml" "$here/src" "$root/proto" -newer "$stamp" -type f -print -quit)" ]; then
    :
else
    echo "grpc-java install: mvn package" >&2
    mkdir -p "$build"
    (cd "$here" && mvn -B -q -DskipTests package >&2)
    touch "$stamp"
fi
echo "grpc-java install: ready ($("$here/version.sh"))" >&2
