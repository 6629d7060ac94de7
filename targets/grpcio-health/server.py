"""A health-only grpcio server, as production services are: it serves
grpc.health.v1.Health (grpcio-health-checking's HealthServicer, grpcio's own
implementation) and no grpc.testing.TestService, so the conformance harness
runs it in health mode.

Usage: server.py PORT [--max-concurrent-streams N] [--pool N] [--no-health]

--no-health serves no service at all: the server the harness must refuse
with what it needs.
"""

import argparse
import signal
import sys
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("--max-concurrent-streams", type=int, default=0,
                        help="SETTINGS_MAX_CONCURRENT_STREAMS to advertise (0: grpcio's default)")
    parser.add_argument("--pool", type=int, default=64,
                        help="handler threads (a Watch holds one while open)")
    parser.add_argument("--no-health", action="store_true",
                        help="register no service (a server the harness refuses)")
    args = parser.parse_args()
    options = []
    if args.max_concurrent_streams > 0:
        options.append(("grpc.max_concurrent_streams", args.max_concurrent_streams))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.pool), options=options)
    # experimental_non_blocking: Watch streams do not each hold a pool thread.
    servicer = health.HealthServicer(
        experimental_non_blocking=True,
        experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=4),
    )
    # The whole server (""), as Kubernetes probes ask for it.
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    if not args.no_health:
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    address = f"127.0.0.1:{args.port}"
    if server.add_insecure_port(address) == 0:
        print(f"grpcio-health server: cannot listen on {address}", file=sys.stderr)
        return 1
    server.start()

    def stop(signum, _frame):
        servicer.enter_graceful_shutdown()
        server.stop(grace=5)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"grpcio-health server: listening on {address}", file=sys.stderr)
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
