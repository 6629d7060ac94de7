"""ProbeService state for the asyncio Python targets (grpclib, grpcio-aio), shared.

Gauges, handler outcomes and barriers, as the suite's ProbeService asks
(proto/conformance/v1/probe.proto), and the library-independent halves of
Rendezvous and Hold, plus TestService's waits (faithful and the blocking-wait
/ busy-wait defects). Everything runs on one asyncio event loop, so no locks
are needed. Each adapter keeps its library's side: reading the request,
answering, and turning RendezvousRefused into its status.
"""

import asyncio
import time

from conformance_stubs.conformance_v1 import probe_pb2
from probe_common import (  # noqa: F401  (Gauges: the adapters take it from here)
    MAX_DURATION_S, Gauges, capped_s, observe_response)

OBSERVE_POLL_S = 0.002

RUNNING, FINISHED, CANCELLED, PANICKED = (
    probe_pb2.RUNNING, probe_pb2.FINISHED, probe_pb2.CANCELLED, probe_pb2.PANICKED)


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
        return observe_response(entry)


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


class RendezvousRefused(Exception):
    """A Rendezvous the adapter answers with INVALID_ARGUMENT (invalid) or
    ABORTED (the parties were not inside together in time)."""

    def __init__(self, invalid, message):
        super().__init__(message)
        self.invalid = invalid
        self.message = message


async def rendezvous(gauges, barriers, request):
    """Waits in request.group for request.parties, counted in request.scope's
    gauge; returns the 1-based arrival or raises RendezvousRefused."""
    if request.parties == 0:
        raise RendezvousRefused(True, "rendezvous needs at least 1 party")
    timeout_s = capped_s(request.timeout_ms)
    leave, _ = gauges.enter(request.scope)
    try:
        arrival = await barriers.arrive(request.group, request.parties, timeout_s)
    except ValueError as err:
        raise RendezvousRefused(True, str(err)) from None
    finally:
        leave()
    if arrival is None:
        others = barriers.waiting(request.group)
        raise RendezvousRefused(False, f"rendezvous {request.group!r}: {others + 1} of "
                                       f"{request.parties} parties were inside together "
                                       f"within {int(timeout_s * 1000)} ms")
    return arrival


async def hold(gauges, outcomes, request, conn, deadline):
    """Holds the handler as request.mode asks (a known mode), counted in
    request.scope's gauge and recorded under request.tag; returns the gauge's
    in-flight count at entry. SLEEP and UNTIL_CANCELLED are asyncio.sleep;
    BLOCK_THREAD (time.sleep) and SPIN (a busy loop) run on the loop's thread
    on purpose: they stall every RPC of the process. PANIC raises
    RuntimeError out of the handler; a cancelled call's CancelledError is
    recorded and re-raised."""
    mode = request.mode
    duration_s = capped_s(request.duration_ms)
    leave, in_flight_at_entry = gauges.enter(request.scope)
    settle = outcomes.begin(request.tag, conn, deadline)
    try:
        if mode in (probe_pb2.SLEEP, probe_pb2.UNTIL_CANCELLED):
            await asyncio.sleep(duration_s)
        elif mode == probe_pb2.BLOCK_THREAD:
            time.sleep(duration_s)  # blocks the event loop: every RPC stalls
        elif mode == probe_pb2.SPIN:
            until = time.monotonic() + duration_s
            while time.monotonic() < until:
                pass
        elif mode == probe_pb2.PANIC:
            settle(PANICKED)
            raise RuntimeError(f"ProbeService.Hold was asked to panic (tag {request.tag!r})")
        settle(FINISHED)
    except asyncio.CancelledError:
        settle(CANCELLED)
        raise
    finally:
        leave()
    return in_flight_at_entry


# TestService's waits of interval_us: the faithful one and two defects.

async def async_wait(seconds):
    await asyncio.sleep(seconds)


async def blocking_wait(seconds):
    """DEFECT blocking-wait: blocks the event loop's thread (every RPC stalls)."""
    time.sleep(min(seconds, MAX_DURATION_S))


async def busy_wait(seconds):
    """DEFECT busy-wait: spins on the clock on the event loop's thread."""
    until = time.monotonic() + min(seconds, MAX_DURATION_S)
    while time.monotonic() < until:
        pass


TEST_WAITS = {"blocking-wait": blocking_wait, "busy-wait": busy_wait}
