#!/bin/sh
# Prints the grpc-java version on the client adapter's classpath, as
# grpc-java reports it (io.grpc.internal.GrpcUtil.IMPLEMENTATION_VERSION),
# e.g. "grpc-java 1.85.1".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -f "$here/build/classpath.txt" ]; then
    echo "grpc-java client: not installed" >&2
    exit 1
fi
exec java -cp "$here/build/maven/classes:$(cat "$here/build/classpath.txt")" conformance.client.GrpcJavaClient --version
