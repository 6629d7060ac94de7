"""grpclib target adapter: grpc.testing.TestService and conformance.v1.ProbeService
on grpclib (pure-Python HTTP/2 + asyncio), with stubs from grpclib's own plugin.

Usage: run.sh PORT [--defect global-lock|blocking-wait|busy-wait|read-all-first]
                   [--test-only]
(listens on 127.0.0.1:PORT, plaintext HTTP/2; logs to stderr). Without flags:
the faithful default. The flags select the defect fixtures of
targets/fixtures.toml:

  --defect global-lock      every handler (both services, for the whole call)
                            runs behind one process-wide asyncio.Lock
  --defect blocking-wait    TestService's waits (interval_us of the response
                            parameters) are time.sleep on the event loop
  --defect busy-wait        the same waits spin on the clock
  --defect read-all-first   FullDuplexCall reads every request until the client
                            half-closes before it sends any response
  --test-only               ProbeService is not registered

There is no --max-concurrent-streams: grpclib's public configuration
(grpclib.config.Configuration, and the h2 H2Configuration its Server builds
itself) has no setting for SETTINGS_MAX_CONCURRENT_STREAMS; every connection
advertises h2's default of 100.

Threading: one asyncio event loop on one thread runs every handler as a task.
SLEEP and UNTIL_CANCELLED are asyncio.sleep; BLOCK_THREAD is time.sleep and SPIN
a busy loop, both run on the loop's thread on purpose: they stall every RPC
of the process (and the loop's signal handling) for their duration.

Cancellation: grpclib cancels the handler's task when the client resets the
stream or its deadline passes, so a handler sees asyncio.CancelledError at its
current await: it records CANCELLED and re-raises.

SIGTERM/SIGINT: server.close() (stop listening; grpclib also cancels every
running handler at once, it has no drain) and wait_closed() bounded to 5 s,
then exit 0.
"""

import asyncio
import logging
import signal
import sys
from importlib.metadata import version

from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server
from multidict import MultiDict

import fixture_flags  # targets/python/, on PYTHONPATH via run.sh
from aio_probe_state import (  # targets/python/
    TEST_WAITS, Barriers, Gauges, Outcomes, RendezvousRefused, async_wait, hold, rendezvous)
from probe_common import capped_s, remaining_ms  # targets/python/
from conformance_stubs.conformance_v1 import probe_grpc, probe_pb2
from conformance_stubs.grpc_testing import empty_pb2, messages_pb2, test_grpc

GRPCLIB_VERSION = version("grpclib")
GRACE_S = 5.0
DEFECTS = ("global-lock", "blocking-wait", "busy-wait", "read-all-first")
ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"

log = logging.getLogger("grpclib-target")

_STATUSES = {status.value: status for status in Status}


def connection_id(stream):
    addr = stream.peer.addr()  # (host, port) of the HTTP/2 connection
    return f"{addr[0]}:{addr[1]}" if addr else ""


def deadline_ms(stream):
    """The call's deadline (grpc-timeout) as the handler sees it now, in ms
    rounded up (0: none)."""
    return remaining_ms(None if stream.deadline is None else stream.deadline.time_remaining())


# ---------------------------------------------------------------------------
# TestService


class Echo:
    """The interop metadata echo of one call."""

    def __init__(self, stream):
        metadata = stream.metadata if stream.metadata is not None else MultiDict()
        self.initial = [(ECHO_INITIAL, v) for v in metadata.getall(ECHO_INITIAL, [])]
        self.trailing = [(ECHO_TRAILING, v) for v in metadata.getall(ECHO_TRAILING, [])]

    async def start(self, stream, streaming):
        """Sends the echoed initial metadata; streaming calls send their
        response headers at once, so clients awaiting them never wait for data."""
        if self.initial or streaming:
            await stream.send_initial_metadata(metadata=self.initial)

    async def end(self, stream, echo_status=None):
        """Ends the call: OK or the requested status, with the trailing echo."""
        status, message = Status.OK, None
        if echo_status is not None and echo_status.code != 0:
            status = _STATUSES.get(echo_status.code, Status.UNKNOWN)
            message = echo_status.message
        await stream.send_trailing_metadata(status=status, status_message=message,
                                            metadata=self.trailing)


def payload(size):
    if size < 0:
        raise GRPCError(Status.INVALID_ARGUMENT, f"negative payload size {size}")
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=bytes(size))


# How TestService waits interval_us (the faithful asyncio.sleep unless a defect).
test_wait = async_wait


async def respond(stream, request):
    """The StreamingOutputCall behaviour for one request, without the ending."""
    for parameters in request.response_parameters:
        if parameters.interval_us > 0:
            await test_wait(parameters.interval_us / 1e6)
        await stream.send_message(
            messages_pb2.StreamingOutputCallResponse(payload=payload(parameters.size)))


def requested_status(request):
    return request.response_status if request.HasField("response_status") else None


class TestService(test_grpc.TestServiceBase):
    def __init__(self, read_all_first=False):
        self.read_all_first = read_all_first

    async def EmptyCall(self, stream):
        echo = Echo(stream)
        await stream.recv_message()
        await echo.start(stream, streaming=False)
        await stream.send_message(empty_pb2.Empty())
        await echo.end(stream)

    async def UnaryCall(self, stream):
        echo = Echo(stream)
        request = await stream.recv_message()
        await echo.start(stream, streaming=False)
        status = requested_status(request)
        if status is None or status.code == 0:
            await stream.send_message(
                messages_pb2.SimpleResponse(payload=payload(request.response_size)))
        await echo.end(stream, status)

    async def CacheableUnaryCall(self, stream):
        await self.UnaryCall(stream)

    async def StreamingOutputCall(self, stream):
        echo = Echo(stream)
        request = await stream.recv_message()
        await echo.start(stream, streaming=True)
        await respond(stream, request)
        await echo.end(stream, requested_status(request))

    async def StreamingInputCall(self, stream):
        echo = Echo(stream)
        total = 0
        async for request in stream:
            total += len(request.payload.body)
        await echo.start(stream, streaming=False)
        await stream.send_message(
            messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total))
        await echo.end(stream)

    async def FullDuplexCall(self, stream):
        if self.read_all_first:
            # DEFECT read-all-first: nothing is sent before the client half-closes.
            await self.HalfDuplexCall(stream)
            return
        echo = Echo(stream)
        await echo.start(stream, streaming=True)
        last_status = None
        async for request in stream:  # each request answered as it arrives
            await respond(stream, request)
            last_status = requested_status(request)
            if last_status is not None and last_status.code != 0:
                break  # the requested status ends the call
        await echo.end(stream, last_status)

    async def HalfDuplexCall(self, stream):
        echo = Echo(stream)
        await echo.start(stream, streaming=True)
        requests = [request async for request in stream]  # until half-close
        last_status = None
        for request in requests:
            await respond(stream, request)
            last_status = requested_status(request)
            if last_status is not None and last_status.code != 0:
                break
        await echo.end(stream, last_status)

    async def UnimplementedCall(self, stream):
        raise GRPCError(Status.UNIMPLEMENTED,
                        "grpc.testing.TestService/UnimplementedCall is not implemented")


# ---------------------------------------------------------------------------
# ProbeService state (targets/python/aio_probe_state.py): gauges, outcomes,
# barriers, and the halves of Rendezvous and Hold that know no library.
# Everything runs on the one event loop: no locks needed.

FINISHED, CANCELLED = probe_pb2.FINISHED, probe_pb2.CANCELLED


class GlobalLock:
    """DEFECT global-lock: serves `servable`'s methods, each behind one lock
    shared by every handler of the process, for the handler's whole run."""

    def __init__(self, servable, lock):
        self._servable = servable
        self._lock = lock

    def __mapping__(self):
        def locked(func):
            async def run(stream):
                async with self._lock:
                    await func(stream)
            return run

        return {path: handler._replace(func=locked(handler.func))
                for path, handler in self._servable.__mapping__().items()}


class ProbeService(probe_grpc.ProbeServiceBase):
    def __init__(self, variant=""):
        self.variant = variant
        self.gauges = Gauges()
        self.outcomes = Outcomes()
        self.barriers = Barriers()

    async def Info(self, stream):
        await stream.recv_message()
        await stream.send_message(probe_pb2.InfoResponse(
            implementation="grpclib", version=GRPCLIB_VERSION, unsafe_holds_enabled=True,
            handler_threads=1,
            threading="single asyncio event loop (one thread), one task per RPC; "
                      "BLOCK_THREAD/SPIN block the loop and every RPC"
                      + (f" [{self.variant}]" if self.variant else "")))

    async def Rendezvous(self, stream):
        request = await stream.recv_message()
        try:
            arrival = await rendezvous(self.gauges, self.barriers, request)
        except RendezvousRefused as err:
            status = Status.INVALID_ARGUMENT if err.invalid else Status.ABORTED
            raise GRPCError(status, err.message) from None
        await stream.send_message(
            probe_pb2.RendezvousResponse(arrival=arrival, connection_id=connection_id(stream)))

    async def Hold(self, stream):
        request = await stream.recv_message()
        if request.mode not in probe_pb2.HoldMode.values():
            raise GRPCError(Status.INVALID_ARGUMENT, f"unknown hold mode {request.mode}")
        conn = connection_id(stream)
        in_flight_at_entry = await hold(self.gauges, self.outcomes, request, conn,
                                        deadline_ms(stream))
        await stream.send_message(
            probe_pb2.HoldResponse(connection_id=conn, in_flight_at_entry=in_flight_at_entry))

    async def Observe(self, stream):
        request = await stream.recv_message()
        await stream.send_message(await self.outcomes.observe(request.tag,
                                                              capped_s(request.wait_ms)))

    async def Gauge(self, stream):
        request = await stream.recv_message()
        in_flight, max_in_flight = self.gauges.read(request.scope, request.reset_max)
        await stream.send_message(
            probe_pb2.GaugeResponse(in_flight=in_flight, max_in_flight=max_in_flight))

    async def Pipe(self, stream):
        await stream.send_initial_metadata()  # headers before the first request
        conn = connection_id(stream)
        deadline = deadline_ms(stream)
        settle = leave = None
        received = 0
        try:
            async for request in stream:
                if received == 0:
                    leave, _ = self.gauges.enter(request.scope)
                    if request.tag:
                        settle = self.outcomes.begin(request.tag, conn, deadline)
                received += 1
                await stream.send_message(
                    probe_pb2.PipeResponse(echo=request, received=received, connection_id=conn))
            if settle is not None:
                settle(FINISHED)  # client half-closed after the last echo
        except BaseException:  # CancelledError (reset, deadline) or a broken stream
            if settle is not None:
                settle(CANCELLED)
            raise
        finally:
            if leave is not None:
                leave()


async def serve(flags):
    global test_wait
    port = flags.port
    variant = fixture_flags.describe(flags)
    test_wait = TEST_WAITS.get(flags.defect, async_wait)
    services = [TestService(read_all_first=flags.defect == "read-all-first")]
    if not flags.test_only:
        services.append(ProbeService(variant))
    if flags.defect == "global-lock":
        lock = asyncio.Lock()
        services = [GlobalLock(service, lock) for service in services]
    server = Server(services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start("127.0.0.1", port, reuse_address=True)
    log.info("grpclib %s serving on 127.0.0.1:%d (one asyncio event loop; %s)", GRPCLIB_VERSION,
             port, variant or "faithful default")
    await stop.wait()
    log.info("stopping: server.close() cancels in-flight handlers; waiting up to %.0f s", GRACE_S)
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), GRACE_S)
    except asyncio.TimeoutError:
        log.warning("handlers still running after %.0f s; exiting anyway", GRACE_S)
    log.info("stopped")


def main():
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s grpclib-target %(levelname)s %(message)s")
    flags = fixture_flags.parse(sys.argv[1:], prog="server.py", defects=DEFECTS,
                                max_concurrent_streams=False)
    try:
        asyncio.run(serve(flags))
    except OSError as err:
        log.error("cannot listen on 127.0.0.1:%s: %s", sys.argv[1], err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
