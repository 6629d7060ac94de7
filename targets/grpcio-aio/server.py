"""grpcio-aio target adapter: grpc.testing.TestService and conformance.v1.ProbeService
on grpcio's asyncio server (grpc.aio, C-core HTTP/2), with stubs from
grpcio-tools (--grpc_python_out, the same generated code as the sync target).

Usage: run.sh PORT [--defect global-lock|blocking-wait|busy-wait|read-all-first]
                   [--test-only] [--max-concurrent-streams N]
(listens on 127.0.0.1:PORT, plaintext HTTP/2; logs to stderr). Without flags:
the faithful default.

  --defect global-lock      every handler (both services, for the whole call)
                            runs behind one process-wide asyncio.Lock
  --defect blocking-wait    TestService's waits (interval_us of the response
                            parameters) are time.sleep on the event loop
  --defect busy-wait        the same waits spin on the clock
  --defect read-all-first   FullDuplexCall reads every request until the client
                            half-closes before it sends any response
  --test-only               ProbeService is not registered
  --max-concurrent-streams N  server option grpc.max_concurrent_streams = N

Threading: grpc.aio.server() runs every handler as a coroutine on one asyncio
event loop (this process's main thread); C-core does the HTTP/2 I/O and hands
each call to the loop. No thread pool is involved (migration_thread_pool is
not set). SLEEP and UNTIL_CANCELLED are asyncio.sleep; BLOCK_THREAD is
time.sleep and SPIN a busy loop, both on the loop's thread on purpose: they
stall every RPC of the process for their duration.

Cancellation: grpc.aio cancels the handler's task when the client cancels or
resets the stream or its deadline passes, so a handler sees
asyncio.CancelledError at its current await: it records CANCELLED and
re-raises.

The ProbeService state (gauges, outcomes, barriers) is the grpclib target's,
shared: targets/python/aio_probe_state.py.

SIGTERM/SIGINT: await server.stop(grace=5) (refuse new RPCs, let in-flight
ones finish for up to 5 s, then cancel them), then exit 0.
"""

import asyncio
import logging
import signal
import sys

import grpc
from grpc import aio

import fixture_flags  # targets/python/, on PYTHONPATH via run.sh
from aio_probe_state import (  # targets/python/
    CANCELLED, FINISHED, TEST_WAITS, Barriers, Gauges, Outcomes, RendezvousRefused, async_wait,
    hold, rendezvous)
from probe_common import (  # targets/python/
    capped_s, grpcio_connection_id as connection_id, grpcio_deadline_ms as deadline_ms)
from conformance_stubs.conformance_v1 import probe_pb2, probe_pb2_grpc
from conformance_stubs.grpc_testing import empty_pb2, messages_pb2, test_pb2_grpc

GRACE_S = 5.0
DEFECTS = ("global-lock", "blocking-wait", "busy-wait", "read-all-first")
ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"

log = logging.getLogger("grpcio-aio-target")

_CODES = {code.value[0]: code for code in grpc.StatusCode}


# ---------------------------------------------------------------------------
# TestService


async def echo_metadata(context, streaming):
    """Echoes the interop test headers; for streaming calls also sends the
    response headers at once, so clients awaiting them never wait for data."""
    initial, trailing = [], []
    for key, value in context.invocation_metadata() or ():
        if key == ECHO_INITIAL:
            initial.append((key, value))
        elif key == ECHO_TRAILING:
            trailing.append((key, value))  # bytes, re-encoded by grpcio
    if trailing:
        context.set_trailing_metadata(trailing)
    if initial or streaming:
        await context.send_initial_metadata(initial)


async def end_with(context, echo_status):
    """Ends the call with the requested status, when one (code != 0) is set."""
    if echo_status is not None and echo_status.code != 0:
        await context.abort(_CODES.get(echo_status.code, grpc.StatusCode.UNKNOWN),
                            echo_status.message)


async def payload(context, size):
    if size < 0:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"negative payload size {size}")
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=bytes(size))


# How TestService waits interval_us (the faithful asyncio.sleep unless a defect).
test_wait = async_wait


async def respond(context, request):
    """The StreamingOutputCall behaviour for one request (an async generator)."""
    for parameters in request.response_parameters:
        if parameters.interval_us > 0:
            await test_wait(parameters.interval_us / 1e6)
        yield messages_pb2.StreamingOutputCallResponse(
            payload=await payload(context, parameters.size))
    if request.HasField("response_status"):
        await end_with(context, request.response_status)


class TestService(test_pb2_grpc.TestServiceServicer):
    def __init__(self, read_all_first=False):
        self.read_all_first = read_all_first

    async def EmptyCall(self, request, context):
        await echo_metadata(context, streaming=False)
        return empty_pb2.Empty()

    async def UnaryCall(self, request, context):
        await echo_metadata(context, streaming=False)
        if request.HasField("response_status"):
            await end_with(context, request.response_status)
        return messages_pb2.SimpleResponse(payload=await payload(context, request.response_size))

    async def CacheableUnaryCall(self, request, context):
        return await self.UnaryCall(request, context)

    async def StreamingOutputCall(self, request, context):
        await echo_metadata(context, streaming=True)
        async for response in respond(context, request):
            yield response

    async def StreamingInputCall(self, request_iterator, context):
        await echo_metadata(context, streaming=False)
        total = 0
        async for request in request_iterator:
            total += len(request.payload.body)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    async def FullDuplexCall(self, request_iterator, context):
        await echo_metadata(context, streaming=True)
        if self.read_all_first:
            # DEFECT read-all-first: nothing is sent before the client half-closes.
            requests = [request async for request in request_iterator]
            for request in requests:
                async for response in respond(context, request):
                    yield response
            return
        async for request in request_iterator:  # each request answered as it arrives
            async for response in respond(context, request):
                yield response

    async def HalfDuplexCall(self, request_iterator, context):
        await echo_metadata(context, streaming=True)
        requests = [request async for request in request_iterator]  # until half-close
        for request in requests:
            async for response in respond(context, request):
                yield response

    async def UnimplementedCall(self, request, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED,
                            "grpc.testing.TestService/UnimplementedCall is not implemented")


# ---------------------------------------------------------------------------
# ProbeService


class ProbeService(probe_pb2_grpc.ProbeServiceServicer):
    def __init__(self, variant=""):
        self.variant = variant
        self.gauges = Gauges()
        self.outcomes = Outcomes()
        self.barriers = Barriers()

    async def Info(self, request, context):
        return probe_pb2.InfoResponse(
            implementation="grpcio-aio", version=grpc.__version__, unsafe_holds_enabled=True,
            handler_threads=1,
            threading="grpc.aio: one asyncio event loop (one thread) runs every handler as "
                      "a coroutine; BLOCK_THREAD/SPIN block the loop and every RPC"
                      + (f" [{self.variant}]" if self.variant else ""))

    async def Rendezvous(self, request, context):
        try:
            arrival = await rendezvous(self.gauges, self.barriers, request)
        except RendezvousRefused as err:
            arrival = err
        if isinstance(arrival, RendezvousRefused):
            code = grpc.StatusCode.INVALID_ARGUMENT if arrival.invalid else grpc.StatusCode.ABORTED
            await context.abort(code, arrival.message)
        return probe_pb2.RendezvousResponse(arrival=arrival,
                                            connection_id=connection_id(context))

    async def Hold(self, request, context):
        if request.mode not in probe_pb2.HoldMode.values():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"unknown hold mode {request.mode}")
        conn = connection_id(context)
        # PANIC: grpc.aio catches an exception out of a handler, logs it and
        # ends the call with UNKNOWN; the server keeps serving.
        in_flight_at_entry = await hold(self.gauges, self.outcomes, request, conn,
                                        deadline_ms(context))
        return probe_pb2.HoldResponse(connection_id=conn, in_flight_at_entry=in_flight_at_entry)

    async def Observe(self, request, context):
        return await self.outcomes.observe(request.tag, capped_s(request.wait_ms))

    async def Gauge(self, request, context):
        in_flight, max_in_flight = self.gauges.read(request.scope, request.reset_max)
        return probe_pb2.GaugeResponse(in_flight=in_flight, max_in_flight=max_in_flight)

    async def Pipe(self, request_iterator, context):
        await context.send_initial_metadata(())  # headers before the first request
        conn = connection_id(context)
        deadline = deadline_ms(context)
        settle = leave = None
        received = 0
        try:
            async for request in request_iterator:
                if received == 0:
                    leave, _ = self.gauges.enter(request.scope)
                    if request.tag:
                        settle = self.outcomes.begin(request.tag, conn, deadline)
                received += 1
                yield probe_pb2.PipeResponse(echo=request, received=received,
                                             connection_id=conn)
            if settle is not None:
                settle(FINISHED)  # client half-closed after the last echo
        except BaseException:  # CancelledError (reset, deadline) or a broken stream
            if settle is not None:
                settle(CANCELLED)
            raise
        finally:
            if leave is not None:
                leave()


class GlobalLock(aio.ServerInterceptor):
    """DEFECT global-lock: every handler, both services, behind one asyncio.Lock
    for its whole run (a streaming handler's whole response stream)."""

    def __init__(self):
        self._lock = asyncio.Lock()

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        lock = self._lock

        def unary_response(func):
            async def run(request_or_iterator, context):
                async with lock:
                    return await func(request_or_iterator, context)
            return run

        def stream_response(func):
            async def run(request_or_iterator, context):
                async with lock:
                    async for response in func(request_or_iterator, context):
                        yield response
            return run

        if handler.unary_unary:
            return handler._replace(unary_unary=unary_response(handler.unary_unary))
        if handler.stream_unary:
            return handler._replace(stream_unary=unary_response(handler.stream_unary))
        if handler.unary_stream:
            return handler._replace(unary_stream=stream_response(handler.unary_stream))
        return handler._replace(stream_stream=stream_response(handler.stream_stream))


async def serve(flags):
    global test_wait
    port = flags.port
    variant = fixture_flags.describe(flags)
    test_wait = TEST_WAITS.get(flags.defect, async_wait)
    options = [("grpc.so_reuseport", 0)]
    if flags.max_concurrent_streams is not None:
        options.append(("grpc.max_concurrent_streams", flags.max_concurrent_streams))
    interceptors = [GlobalLock()] if flags.defect == "global-lock" else []
    server = aio.server(interceptors=interceptors, options=options)
    test_pb2_grpc.add_TestServiceServicer_to_server(
        TestService(read_all_first=flags.defect == "read-all-first"), server)
    if not flags.test_only:
        probe_pb2_grpc.add_ProbeServiceServicer_to_server(ProbeService(variant), server)
    address = f"127.0.0.1:{port}"
    if server.add_insecure_port(address) == 0:
        log.error("cannot listen on %s", address)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    log.info("grpcio %s (grpc.aio) serving on %s (one asyncio event loop; %s)",
             grpc.__version__, address, variant or "faithful default")
    await stop.wait()
    log.info("stopping (grace %.0f s)", GRACE_S)
    await server.stop(grace=GRACE_S)
    log.info("stopped")
    return 0


def main():
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s grpcio-aio-target %(levelname)s %(message)s")
    flags = fixture_flags.parse(sys.argv[1:], prog="server.py", defects=DEFECTS)
    try:
        return asyncio.run(serve(flags))
    except RuntimeError as err:
        log.error("cannot listen on 127.0.0.1:%s: %s", sys.argv[1], err)
        return 1


if __name__ == "__main__":
    sys.exit(main())
