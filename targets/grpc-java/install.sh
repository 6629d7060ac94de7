#!/usr/bin/env bash
# Installs the grpc-java target: grpc-java 1.85.1 (grpc-netty, grpc-protobuf,
# grpc-stub) and protobuf-java from Maven Central, messages generated from
# proto/ by protoc 3.25.9 from Maven Central (protobuf-maven-plugin), the
# adapter compiled into targets/grpc-java/build/ (git-ignored) and its runtime
# classpath written to build/classpath.txt (jars in Maven's local repository).
# The steps are targets/java/maven-build.sh's. Idempotent: skips Maven when
# the classes are newer than every input.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
"$here/../java/maven-build.sh" grpc-java "$here"
echo "grpc-java install: ready ($("$here/version.sh"))" >&2
