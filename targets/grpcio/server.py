"""grpcio target adapter: grpc.testing.TestService and conformance.v1.ProbeService
on grpcio's synchronous server (C-core), grpc.server(ThreadPoolExecutor(16)).

Usage: run.sh PORT [--defect global-lock|read-all-first] [--test-only]
                   [--max-concurrent-streams N] [--pool N]
(listens on 127.0.0.1:PORT, plaintext HTTP/2; logs to stderr). Without flags:
the faithful default, a pool of 16 threads (MAX_WORKERS). The flags select the
defect fixtures and limited configurations of targets/fixtures.toml:

  --defect global-lock      every handler (both services, for the whole call,
                            streaming responses included) runs behind one
                            process-wide threading.Lock
  --defect read-all-first   FullDuplexCall reads every request until the client
                            half-closes before it sends any response
  --test-only               ProbeService is not registered
  --max-concurrent-streams N  channel option grpc.max_concurrent_streams = N
  --pool N                  ThreadPoolExecutor(max_workers=N) instead of 16

Threading: every handler runs on one of 16 pool threads and blocks it while it
waits (SLEEP, UNTIL_CANCELLED and Rendezvous wait on a condition, which also
holds the thread: a sync server has no other way to wait). RPCs beyond 16
queue for a free thread (maximum_concurrent_rpcs is left unbounded).

Cancellation: a handler learns of it through context.add_callback (run when the
RPC terminates) and context.is_active(); waits wake up on it at once.

SIGTERM/SIGINT: server.stop(grace=5) (refuse new RPCs, let in-flight ones
finish for up to 5 s, then cancel them), then exit 0 without waiting for pool
threads stuck in BLOCK_THREAD/SPIN.
"""

import signal

# Block the stop signals before grpcio (whose import may start C-core threads)
# or the pool start any thread: every thread inherits the mask, and only the
# sigwait in main() receives SIGTERM/SIGINT.
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)

import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent import futures  # noqa: E402

import grpc  # noqa: E402

import fixture_flags  # noqa: E402  (targets/python/, on PYTHONPATH via run.sh)
from probe_common import (  # noqa: E402  (targets/python/)
    Gauges, capped_s, grpcio_connection_id as connection_id,
    grpcio_deadline_ms as deadline_ms, observe_response)
from conformance_stubs.conformance_v1 import probe_pb2, probe_pb2_grpc  # noqa: E402
from conformance_stubs.grpc_testing import empty_pb2, messages_pb2, test_pb2_grpc  # noqa: E402

MAX_WORKERS = 16  # the default pool size (--pool N overrides it)
DEFECTS = ("global-lock", "read-all-first")
GRACE_S = 5.0
ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"

log = logging.getLogger("grpcio-target")

_CODES = {code.value[0]: code for code in grpc.StatusCode}


class CallDone:
    """Set when the RPC terminates (cancelled, deadline, reset or completed)."""

    def __init__(self, context, also_notify=None):
        self.event = threading.Event()
        self._notify = also_notify

        def on_done():
            self.event.set()
            if self._notify is not None:
                with self._notify:
                    self._notify.notify_all()

        if not context.add_callback(on_done):
            on_done()  # already terminated

    def wait(self, seconds):
        """Waits up to `seconds`; True if the RPC terminated first."""
        return self.event.wait(seconds)


# ---------------------------------------------------------------------------
# TestService


def echo_metadata(context, streaming):
    """Echoes the interop test headers; for streaming calls also sends the
    response headers at once, so clients awaiting them never wait for data."""
    initial, trailing = [], []
    for key, value in context.invocation_metadata():
        if key == ECHO_INITIAL:
            initial.append((key, value))
        elif key == ECHO_TRAILING:
            trailing.append((key, value))  # bytes, re-encoded by grpcio
    if initial or streaming:
        context.send_initial_metadata(initial)
    if trailing:
        context.set_trailing_metadata(trailing)


def end_with(context, echo_status):
    """Ends the call with the requested status, when one (code != 0) is set."""
    if echo_status is not None and echo_status.code != 0:
        context.abort(_CODES.get(echo_status.code, grpc.StatusCode.UNKNOWN), echo_status.message)


def payload(context, size):
    if size < 0:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"negative payload size {size}")
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=bytes(size))


def respond(context, done, request):
    """The StreamingOutputCall behaviour for one request (a generator)."""
    for parameters in request.response_parameters:
        if parameters.interval_us > 0 and done.wait(parameters.interval_us / 1e6):
            return  # cancelled: nobody to send to
        yield messages_pb2.StreamingOutputCallResponse(payload=payload(context, parameters.size))
    if request.HasField("response_status"):
        end_with(context, request.response_status)


class TestService(test_pb2_grpc.TestServiceServicer):
    def __init__(self, read_all_first=False):
        self.read_all_first = read_all_first

    def EmptyCall(self, request, context):
        echo_metadata(context, streaming=False)
        return empty_pb2.Empty()

    def UnaryCall(self, request, context):
        echo_metadata(context, streaming=False)
        if request.HasField("response_status"):
            end_with(context, request.response_status)
        return messages_pb2.SimpleResponse(payload=payload(context, request.response_size))

    def CacheableUnaryCall(self, request, context):
        return self.UnaryCall(request, context)

    def StreamingOutputCall(self, request, context):
        echo_metadata(context, streaming=True)
        yield from respond(context, CallDone(context), request)

    def StreamingInputCall(self, request_iterator, context):
        echo_metadata(context, streaming=False)
        total = sum(len(r.payload.body) for r in request_iterator)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    def FullDuplexCall(self, request_iterator, context):
        echo_metadata(context, streaming=True)
        done = CallDone(context)
        if self.read_all_first:
            # DEFECT read-all-first: nothing is sent before the client half-closes.
            requests = list(request_iterator)
            for request in requests:
                yield from respond(context, done, request)
            return
        for request in request_iterator:  # blocks this thread until the next request
            yield from respond(context, done, request)

    def HalfDuplexCall(self, request_iterator, context):
        echo_metadata(context, streaming=True)
        done = CallDone(context)
        requests = list(request_iterator)  # until the client half-closes
        for request in requests:
            yield from respond(context, done, request)

    def UnimplementedCall(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED,
                      "grpc.testing.TestService/UnimplementedCall is not implemented")


# ---------------------------------------------------------------------------
# ProbeService state: barriers, gauges and handler outcomes, each under a lock.

RUNNING, FINISHED, CANCELLED, PANICKED = (
    probe_pb2.RUNNING, probe_pb2.FINISHED, probe_pb2.CANCELLED, probe_pb2.PANICKED)


class Outcomes:
    def __init__(self):
        self.cond = threading.Condition()
        self._entries = {}  # tag -> dict(state, conn, deadline_ms, entered, ended, serial)
        self._serial = 0

    def begin(self, tag, conn, deadline):
        """Records a handler entering under `tag`; returns its settle function
        (the first final state wins; a later handler of the tag replaces it)."""
        with self.cond:
            self._serial += 1
            serial = self._serial
            self._entries[tag] = dict(state=RUNNING, conn=conn, deadline_ms=deadline,
                                      entered=time.monotonic(), ended=None, serial=serial)
            self.cond.notify_all()

        def settle(state):
            with self.cond:
                entry = self._entries.get(tag)
                if entry and entry["serial"] == serial and entry["state"] == RUNNING:
                    entry["state"] = state
                    entry["ended"] = time.monotonic()
                    self.cond.notify_all()

        return settle

    def observe(self, tag, wait_s):
        give_up = time.monotonic() + wait_s
        with self.cond:
            while True:
                entry = self._entries.get(tag)
                remaining = give_up - time.monotonic()
                if (entry and entry["state"] != RUNNING) or remaining <= 0:
                    break
                self.cond.wait(remaining)
            return observe_response(entry)


class Barriers:
    """Reusable barriers by group; a waiter that times out or is cancelled
    leaves its group, so a barrier only releases with its parties inside."""

    def __init__(self):
        self.cond = threading.Condition()
        self._groups = {}  # group -> dict(parties, arrived, generation)

    def arrive(self, group, parties, timeout_s, done):
        """Returns the 1-based arrival, None on timeout/cancellation, or raises
        ValueError when the group waits for another number of parties."""
        with self.cond:
            barrier = self._groups.get(group)
            if barrier is None or (barrier["parties"] != parties and barrier["arrived"] == 0):
                barrier = dict(parties=parties, arrived=0, generation=0)
                self._groups[group] = barrier
            elif barrier["parties"] != parties:
                raise ValueError(f"rendezvous group {group!r} is waiting for {barrier['parties']} "
                                 f"parties, this call asked for {parties}")
            barrier["arrived"] += 1
            arrival = barrier["arrived"]
            if arrival >= parties:
                barrier["generation"] += 1
                barrier["arrived"] = 0
                del self._groups[group]  # released: the group starts afresh
                self.cond.notify_all()
                return arrival
            generation = barrier["generation"]
            give_up = time.monotonic() + timeout_s
            while barrier["generation"] == generation:
                remaining = give_up - time.monotonic()
                if remaining <= 0 or done.event.is_set():
                    barrier["arrived"] -= 1  # leave the group
                    if barrier["arrived"] == 0 and self._groups.get(group) is barrier:
                        del self._groups[group]
                    return None
                self.cond.wait(remaining)
            return arrival

    def waiting(self, group):
        with self.cond:
            barrier = self._groups.get(group)
            return barrier["arrived"] if barrier else 0


class GlobalLock(grpc.ServerInterceptor):
    """DEFECT global-lock: every handler of the server runs behind one
    process-wide lock, from its start until its RPC is over (for a streaming
    response: until the response generator is exhausted or closed, or the RPC
    terminates, whichever comes first)."""

    def __init__(self):
        self.lock = threading.Lock()

    def _guard(self, context):
        """Acquires the lock; returns a release-once function, also run when
        the RPC terminates (a cancelled stream whose generator grpcio stops
        iterating must not keep the lock)."""
        self.lock.acquire()
        released = [False]
        guard = threading.Lock()

        def release():
            with guard:
                if not released[0]:
                    released[0] = True
                    self.lock.release()

        if not context.add_callback(release):
            release()  # the RPC already terminated: nothing to run for
            return None
        return release

    def _unary(self, behaviour):
        def run(request, context):
            release = self._guard(context)
            try:
                return behaviour(request, context)
            finally:
                if release is not None:
                    release()
        return run

    def _streaming(self, behaviour):
        def run(request, context):
            release = self._guard(context)
            try:
                yield from behaviour(request, context)
            finally:
                if release is not None:
                    release()
        return run

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._unary(handler.unary_unary))
        if handler.stream_unary is not None:
            return handler._replace(stream_unary=self._unary(handler.stream_unary))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=self._streaming(handler.unary_stream))
        return handler._replace(stream_stream=self._streaming(handler.stream_stream))


class ProbeService(probe_pb2_grpc.ProbeServiceServicer):
    def __init__(self, workers=MAX_WORKERS, variant=""):
        self.workers = workers
        self.variant = variant
        self.gauges = Gauges(threading.Lock())
        self.outcomes = Outcomes()
        self.barriers = Barriers()

    def Info(self, request, context):
        return probe_pb2.InfoResponse(
            implementation="grpcio", version=grpc.__version__, unsafe_holds_enabled=True,
            handler_threads=self.workers,
            threading=f"sync grpc.server, ThreadPoolExecutor(max_workers={self.workers})"
                      + (f" [{self.variant}]" if self.variant else ""))

    def Rendezvous(self, request, context):
        if request.parties == 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "rendezvous needs at least 1 party")
        done = CallDone(context, also_notify=self.barriers.cond)
        timeout_s = capped_s(request.timeout_ms)
        leave, _ = self.gauges.enter(request.scope)
        try:
            arrival = self.barriers.arrive(request.group, request.parties, timeout_s, done)
        except ValueError as err:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        finally:
            leave()
        if arrival is None:
            others = self.barriers.waiting(request.group)
            context.abort(grpc.StatusCode.ABORTED,
                          f"rendezvous {request.group!r}: {others + 1} of {request.parties} parties "
                          f"were inside together within {int(timeout_s * 1000)} ms")
        return probe_pb2.RendezvousResponse(arrival=arrival, connection_id=connection_id(context))

    def Hold(self, request, context):
        mode = request.mode
        if mode not in probe_pb2.HoldMode.values():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown hold mode {mode}")
        conn = connection_id(context)
        deadline = deadline_ms(context)
        duration_s = capped_s(request.duration_ms)
        done = CallDone(context)
        leave, in_flight_at_entry = self.gauges.enter(request.scope)
        settle = self.outcomes.begin(request.tag, conn, deadline)
        try:
            if mode in (probe_pb2.SLEEP, probe_pb2.UNTIL_CANCELLED):
                # A sync handler cannot wait without holding its pool thread;
                # it waits on the call's termination so cancellation ends it.
                if done.wait(duration_s) and not context.is_active():
                    settle(CANCELLED)
            elif mode == probe_pb2.BLOCK_THREAD:
                time.sleep(duration_s)  # ignores cancellation, like a careless handler
            elif mode == probe_pb2.SPIN:
                until = time.monotonic() + duration_s
                while time.monotonic() < until:
                    pass
            elif mode == probe_pb2.PANIC:
                settle(PANICKED)
                raise RuntimeError(f"ProbeService.Hold was asked to panic (tag {request.tag!r})")
            settle(FINISHED)
        finally:
            leave()
        return probe_pb2.HoldResponse(connection_id=conn, in_flight_at_entry=in_flight_at_entry)

    def Observe(self, request, context):
        return self.outcomes.observe(request.tag, capped_s(request.wait_ms))

    def Gauge(self, request, context):
        in_flight, max_in_flight = self.gauges.read(request.scope, request.reset_max)
        return probe_pb2.GaugeResponse(in_flight=in_flight, max_in_flight=max_in_flight)

    def Pipe(self, request_iterator, context):
        context.send_initial_metadata(())  # headers before the first request
        conn = connection_id(context)
        deadline = deadline_ms(context)
        state = dict(settle=None, leave=None, finished=False)

        def on_done():  # the RPC ended: if the stream did not finish, it was cancelled
            if state["settle"] is not None and not state["finished"]:
                state["settle"](CANCELLED)
            if state["leave"] is not None:
                state["leave"]()

        received = 0
        try:
            for request in request_iterator:
                if received == 0:
                    state["leave"], _ = self.gauges.enter(request.scope)
                    if request.tag:
                        state["settle"] = self.outcomes.begin(request.tag, conn, deadline)
                    if not context.add_callback(on_done):
                        on_done()
                received += 1
                yield probe_pb2.PipeResponse(echo=request, received=received, connection_id=conn)
            state["finished"] = True  # client half-closed after the last echo
            if state["settle"] is not None:
                state["settle"](FINISHED)
        finally:
            on_done()


def main():
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s grpcio-target %(levelname)s %(message)s")
    flags = fixture_flags.parse(sys.argv[1:], prog="server.py", defects=DEFECTS, pool=True)
    port = flags.port
    workers = flags.pool or MAX_WORKERS
    options = [("grpc.so_reuseport", 0)]
    if flags.max_concurrent_streams is not None:
        options.append(("grpc.max_concurrent_streams", flags.max_concurrent_streams))
    interceptors = [GlobalLock()] if flags.defect == "global-lock" else []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                         interceptors=interceptors, options=options)
    test_pb2_grpc.add_TestServiceServicer_to_server(
        TestService(read_all_first=flags.defect == "read-all-first"), server)
    variant = fixture_flags.describe(flags)
    if not flags.test_only:
        probe_pb2_grpc.add_ProbeServiceServicer_to_server(ProbeService(workers, variant), server)
    address = f"127.0.0.1:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as err:
        log.error("cannot listen on %s: %s", address, err)
        return 1
    if bound == 0:
        log.error("cannot listen on %s", address)
        return 1
    server.start()
    log.info("grpcio %s serving on %s (sync, %d worker threads; %s)", grpc.__version__, address,
             workers, variant or "faithful default")

    received = signal.sigwait(STOP_SIGNALS)
    log.info("%s: stopping (grace %.0f s)", signal.Signals(received).name, GRACE_S)
    server.stop(grace=GRACE_S).wait(GRACE_S + 5)
    log.info("stopped")
    sys.stderr.flush()
    # Pool threads still inside BLOCK_THREAD/SPIN would keep the interpreter
    # alive at exit (concurrent.futures joins its workers): leave at once.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
