"""Pieces every Python target (grpcio, grpcio-aio, grpclib) shares, whatever
its library or concurrency: the cap on holds and waits, the deadline as
ProbeService reports it, and the connection and deadline of a grpcio call
(the sync and the asyncio servicer context answer peer() and
time_remaining() alike), the in-flight gauges (under a lock for the threaded
grpcio target, without one on an event loop) and ObserveResponse from a
recorded outcome."""

import contextlib
import math

from conformance_stubs.conformance_v1 import probe_pb2

MAX_DURATION_S = 120.0  # cap of every hold/wait, as in the reference server


def capped_s(ms):
    return min(ms / 1000.0, MAX_DURATION_S)


def remaining_ms(remaining_s):
    """A deadline `remaining_s` seconds away, in ms rounded up (at least 1);
    0 for none (None)."""
    if remaining_s is None:
        return 0
    return min(max(1, math.ceil(remaining_s * 1000)), 2**32 - 1)


def grpcio_connection_id(context):
    # e.g. "ipv4:127.0.0.1:53122": one per HTTP/2 connection.
    return context.peer()


def grpcio_deadline_ms(context):
    """The call's deadline as the handler sees it now, in ms rounded up (0: none)."""
    remaining = context.time_remaining()
    if remaining is not None and remaining > 1e8:  # no deadline: C-core's infinite future
        remaining = None
    return remaining_ms(remaining)


class Gauges:
    """In-flight handlers by scope, with the highest count seen. `lock`
    guards them where handlers run on several threads; on one event loop
    there is none."""

    def __init__(self, lock=None):
        self._lock = lock if lock is not None else contextlib.nullcontext()
        self._counts = {}  # scope -> [in_flight, max_in_flight]

    def enter(self, scope):
        """Counts one handler in; returns (leave function, in-flight count)."""
        with self._lock:
            counts = self._counts.setdefault(scope, [0, 0])
            counts[0] += 1
            counts[1] = max(counts[1], counts[0])
            now = counts[0]
        left = [False]

        def leave():
            with self._lock:
                if not left[0]:
                    left[0] = True
                    counts[0] -= 1

        return leave, now

    def read(self, scope, reset_max):
        with self._lock:
            counts = self._counts.setdefault(scope, [0, 0])
            in_flight, max_in_flight = counts
            if reset_max:
                counts[1] = counts[0]
            return in_flight, max_in_flight


def observe_response(entry):
    """The ObserveResponse of an outcome entry (dict(state, conn, deadline_ms,
    entered, ended, ...), times from time.monotonic()), or of none."""
    if entry is None:
        return probe_pb2.ObserveResponse()
    elapsed = 0 if entry["ended"] is None else (entry["ended"] - entry["entered"])
    return probe_pb2.ObserveResponse(state=entry["state"], connection_id=entry["conn"],
                                     elapsed_ms=min(int(elapsed * 1000), 2**32 - 1),
                                     deadline_ms=entry["deadline_ms"])
