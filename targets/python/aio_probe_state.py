"""ProbeService state for the asyncio Python targets (grpclib, grpcio-aio), shared.

Gauges, handler outcomes and barriers, as the suite's ProbeService asks
(proto/conformance/v1/probe.proto). Everything runs on one asyncio event loop,
so no locks are needed. Moved here unchanged from targets/grpclib/server.py.
"""

import asyncio
import time

from conformance_stubs.conformance_v1 import probe_pb2

OBSERVE_POLL_S = 0.002

RUNNING, FINISHED, CANCELLED, PANICKED = (
    probe_pb2.RUNNING, probe_pb2.FINISHED, probe_pb2.CANCELLED, probe_pb2.PANICKED)


class Gauges:
    def __init__(self):
        self._counts = {}  # scope -> [in_flight, max_in_flight]

    def enter(self, scope):
        """Counts one handler in; returns (leave function, in-flight count)."""
        counts = self._counts.setdefault(scope, [0, 0])
        counts[0] += 1
        counts[1] = max(counts[1], counts[0])
        left = [False]

        def leave():
            if not left[0]:
                left[0] = True
                counts[0] -= 1

        return leave, counts[0]

    def read(self, scope, reset_max):
        counts = self._counts.setdefault(scope, [0, 0])
        in_flight, max_in_flight = counts
        if reset_max:
            counts[1] = counts[0]
        return in_flight, max_in_flight


class Outcomes:
    def __init__(self):
        self._entries = {}  # tag -> dict(state, conn, deadline_ms, entered, ended, serial)
        self._serial = 0

    def begin(self, tag, conn, deadline):
        """Records a handler entering under `tag`; returns its settle function
        (the first final state wins; a later handler of the tag replaces it)."""
        self._serial += 1
        serial = self._serial
        self._entries[tag] = dict(state=RUNNING, conn=conn, deadline_ms=deadline,
                                  entered=time.monotonic(), ended=None, serial=serial)

        def settle(state):
            entry = self._entries.get(tag)
            if entry and entry["serial"] == serial and entry["state"] == RUNNING:
                entry["state"] = state
                entry["ended"] = time.monotonic()

        return settle

    async def observe(self, tag, wait_s):
        give_up = time.monotonic() + wait_s
        while True:
            entry = self._entries.get(tag)
            if (entry and entry["state"] != RUNNING) or time.monotonic() >= give_up:
                break
            await asyncio.sleep(OBSERVE_POLL_S)
        if entry is None:
            return probe_pb2.ObserveResponse()
        elapsed = 0 if entry["ended"] is None else (entry["ended"] - entry["entered"])
        return probe_pb2.ObserveResponse(state=entry["state"], connection_id=entry["conn"],
                                         elapsed_ms=min(int(elapsed * 1000), 2**32 - 1),
                                         deadline_ms=entry["deadline_ms"])


class Barrier:
    def __init__(self, parties):
        self.parties = parties
        self.arrived = 0
        self.released = asyncio.get_running_loop().create_future()


class Barriers:
    """Reusable barriers by group; a waiter that times out or is cancelled
    leaves its group, so a barrier only releases with its parties inside."""

    def __init__(self):
        self._groups = {}  # group -> Barrier of the current generation

    async def arrive(self, group, parties, timeout_s):
        """Returns the 1-based arrival, or None on timeout; raises ValueError
        when the group waits for another number of parties."""
        barrier = self._groups.get(group)
        if barrier is None or (barrier.parties != parties and barrier.arrived == 0):
            barrier = self._groups[group] = Barrier(parties)
        elif barrier.parties != parties:
            raise ValueError(f"rendezvous group {group!r} is waiting for {barrier.parties} "
                             f"parties, this call asked for {parties}")
        barrier.arrived += 1
        arrival = barrier.arrived
        if arrival >= parties:
            del self._groups[group]  # released: the group starts afresh
            barrier.released.set_result(None)
            return arrival
        try:
            await asyncio.wait_for(asyncio.shield(barrier.released), timeout_s)
            return arrival
        except (asyncio.TimeoutError, asyncio.CancelledError) as err:
            if barrier.released.done():  # released at the same moment
                if isinstance(err, asyncio.CancelledError):
                    raise
                return arrival
            barrier.arrived -= 1  # leave the group
            if barrier.arrived == 0 and self._groups.get(group) is barrier:
                del self._groups[group]
            if isinstance(err, asyncio.CancelledError):
                raise
            return None

    def waiting(self, group):
        barrier = self._groups.get(group)
        return barrier.arrived if barrier else 0
