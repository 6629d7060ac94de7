"""The pieces of an instruction that do not depend on the grpcio API flavour,
shared by the grpcio (sync) and grpcio-aio client adapters: the defects, each
unary call kind's stub, method, request and reply, the Interlock requests,
and the receiver's tally of responses."""

import argparse
import time

import grpc

from conformance_stubs.conformance_v1 import client_pb2, client_pb2_grpc, probe_pb2, probe_pb2_grpc
from conformance_stubs.grpc_testing import messages_pb2, test_pb2_grpc

# The stub class of each service unary_plan names; the same classes serve
# grpc.Channel and grpc.aio.Channel.
STUBS = {"observer": client_pb2_grpc.ClientObserverStub,
         "probe": probe_pb2_grpc.ProbeServiceStub,
         "test": test_pb2_grpc.TestServiceStub}

# The options of a new-channel-per-call channel. gRPC core shares subchannels
# (and so TCP connections) between channels of the same target and options
# through its global subchannel pool: without a local pool the "fresh"
# channels would all ride the first one's connection and the defect would be
# no defect (seen: three calls, three channels, one peer address).
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]

DEFECTS = ("new-channel-per-call", "global-lock", "send-all-then-receive",
           "receive-after-half-close")


def parse_args(prog):
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--defect", choices=DEFECTS, default="",
                        help="a deliberate client defect")
    return parser.parse_args()


def status_code(code):
    """The integer of a grpc.StatusCode."""
    return code.value[0] if code is not None else grpc.StatusCode.UNKNOWN.value[0]


def kind_error(instruction):
    """The adapter_error for an instruction (or a call of it) of a kind this
    adapter does not know, or "" when it knows them all."""
    kind = instruction.WhichOneof("work")
    if kind is None:
        return "instruction of a kind this adapter does not know (no calls, no exchange)"
    if kind == "calls":
        for call in instruction.calls.calls:
            if call.WhichOneof("rpc") is None:
                return f"call {call.caller!r}: no rpc set (an rpc kind this adapter does not know?)"
    return ""


def unary_plan(call):
    """For a unary call kind: (service, method, request, fill) where service is
    "observer", "probe" or "test", and fill(result, response) records the reply."""
    kind = call.WhichOneof("rpc")
    if kind == "gather":
        def fill(result, response):
            result.reply_caller = response.caller
        return "observer", "Gather", call.gather, fill
    if kind == "rendezvous":
        r = call.rendezvous
        request = probe_pb2.RendezvousRequest(group=r.group, parties=r.parties,
                                              timeout_ms=r.timeout_ms, scope=r.scope)
        return "probe", "Rendezvous", request, lambda result, response: None
    if kind == "unary_response_size":
        def fill(result, response):
            result.reply_size = len(response.payload.body)
        request = messages_pb2.SimpleRequest(response_size=call.unary_response_size)
        return "test", "UnaryCall", request, fill
    raise ValueError(kind)


def interlock_requests(exchange):
    """The sender's requests, seq 1..messages, in order."""
    payload = bytes(exchange.request_size)
    for seq in range(1, exchange.messages + 1):
        yield client_pb2.InterlockRequest(
            tag=exchange.tag, seq=seq, response_size=exchange.response_size,
            after_half_close=exchange.after_half_close, payload=payload)


class Tally:
    """What the receiver read: the count, whether each response had the seq
    and size expected, and whether it is time to cancel."""

    def __init__(self, exchange, result):
        self.exchange = exchange
        self.result = result
        result.in_order = True

    def take(self, response):
        """Counts one response; True when the receiver must now cancel."""
        r = self.result
        r.received += 1
        if response.seq != r.received or len(response.payload) != self.exchange.response_size:
            r.in_order = False
        return 0 < self.exchange.cancel_after <= r.received

    def cancelled(self, cancel_took, code=None, details=""):
        """Records the receiver's cancel: CANCELLED when cancel() took (it
        returns False when the call had ended before, e.g. at its deadline;
        then `code` and `details` are that end)."""
        if cancel_took:
            self.result.code = status_code(grpc.StatusCode.CANCELLED)
            self.result.message = f"cancelled by the receiver after {self.result.received} responses"
        else:
            self.result.code = status_code(code)
            self.result.message = details or ""


class Budget:
    """A task's deadline, from the task's start: a call queued behind the
    global lock spends its own time waiting, so every task stays bounded."""

    def __init__(self, deadline_ms):
        self.start = time.monotonic()
        self.end = self.start + deadline_ms / 1000

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def elapsed_ms(self):
        return int((time.monotonic() - self.start) * 1000)


def lock_timed_out(result):
    """Records a call that ran out of time before the global lock was free."""
    result.code = status_code(grpc.StatusCode.DEADLINE_EXCEEDED)
    result.message = "deadline exceeded waiting for the global lock (--defect global-lock)"


def sender_stopped(result, code):
    """Records, when the sender stopped before half-closing without an error
    of its own, that it stopped because the call ended."""
    if not result.half_closed and not result.sender_error:
        result.sender_error = f"the call ended ({code.name}) before every request was sent"
