#!/usr/bin/env bash
# Shared by the grpc-java install.sh scripts (the server target, the client
# adapter): Debian's JDK and Maven when missing, then `mvn package` of the
# Maven project in DIR (its pom.xml puts everything under DIR/build/,
# git-ignored, and writes the runtime classpath to build/classpath.txt),
# skipped when a stamp is newer than the pom, DIR/src and every .proto.
# Usage: targets/java/maven-build.sh NAME DIR (NAME is for the messages)
set -euo pipefail

name="$1"
dir="$(cd "$2" && pwd)"
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$dir/build"

for tool in java mvn; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$name install: $tool missing, installing Debian's default-jdk-headless and maven" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update >&2
        apt-get install -y --no-install-recommends default-jdk-headless maven >&2
        break
    fi
done

stamp="$build/.install-stamp"
if [ -f "$stamp" ] && [ -f "$build/classpath.txt" ] \
        && [ -z "$(find "$dir/pom.xml" "$dir/src" "$root/proto" -newer "$stamp" -type f -print -quit)" ]; then
    :
else
    echo "$name install: mvn package" >&2
    mkdir -p "$build"
    (cd "$dir" && mvn -B -q -DskipTests package >&2)
    touch "$stamp"
fi
