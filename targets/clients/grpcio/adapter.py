"""grpcio client adapter, synchronous API: speaks the client-under-test
protocol (proto/conformance/v1/client.proto) on stdin/stdout and carries out
each instruction with one grpc.insecure_channel and a thread per task.

Usage: adapter.py [--defect new-channel-per-call|global-lock|
                   send-all-then-receive|receive-after-half-close]

The sync API sends a stream's requests only from a request iterator that
grpcio's own thread consumes, waiting for each send to complete before it
asks for the next (flow control). So the exchange's sender is that iterator;
the receiver is the instruction's thread. Under send-all-then-receive and
receive-after-half-close alike nobody reads until the iterator has ended (the
half-close): in this API the two defects have the same shape.
"""

import contextlib
import sys
import threading

import grpc

import client_work as work
from client_protocol import PROTOCOL_VERSION, serve
from conformance_stubs.conformance_v1 import client_pb2, client_pb2_grpc

NAME = "grpcio-client"
DEFECT = work.parse_args(NAME).defect
GLOBAL_LOCK = threading.Lock()


@contextlib.contextmanager
def rpc_lock(budget):
    """Holds the global lock around a whole RPC under --defect global-lock;
    yields False when the budget ran out first."""
    if DEFECT != "global-lock":
        yield True
        return
    if not GLOBAL_LOCK.acquire(timeout=budget.left()):
        yield False
        return
    try:
        yield True
    finally:
        GLOBAL_LOCK.release()


def gather_stream(channel, request, timeout):
    """Sends the one request, reads the one response, half-closes, reads to
    the end; returns the response's caller."""
    have_response = threading.Event()

    def requests():
        yield request
        # The half-close (the iterator's end) comes after the response.
        have_response.wait()

    call = client_pb2_grpc.ClientObserverStub(channel).GatherStream(requests(), timeout=timeout)
    try:
        response = next(call, None)
        have_response.set()
        for _ in call:
            pass
        return response.caller if response is not None else ""
    finally:
        have_response.set()


def run_call(server, channel, deadline_ms, call):
    budget = work.Budget(deadline_ms)
    result = client_pb2.CallResult(caller=call.caller)
    own = None
    try:
        if channel is None:
            own = channel = grpc.insecure_channel(server, options=work.OWN_CONNECTION)
        with rpc_lock(budget) as held:
            if not held:
                work.lock_timed_out(result)
                return result
            try:
                if call.WhichOneof("rpc") == "gather_stream":
                    result.reply_caller = gather_stream(channel, call.gather_stream, budget.left())
                else:
                    service, method, request, fill = work.unary_plan(call)
                    stub = work.STUBS[service](channel)
                    fill(result, getattr(stub, method)(request, timeout=budget.left()))
            except grpc.RpcError as e:
                result.code = work.status_code(e.code())
                result.message = e.details() or ""
        return result
    finally:
        if own is not None:
            own.close()
        result.elapsed_ms = budget.elapsed_ms()


def run_calls(instruction):
    result = client_pb2.InstructionResult(id=instruction.id)
    calls = instruction.calls.calls
    channel = None if DEFECT == "new-channel-per-call" else grpc.insecure_channel(instruction.server)
    results = [None] * len(calls)

    def task(i, call):
        results[i] = run_call(instruction.server, channel, instruction.deadline_ms, call)

    threads = [threading.Thread(target=task, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        if channel is not None:
            channel.close()
    result.calls.extend(results)
    return result


def run_exchange(instruction):
    ex = instruction.exchange
    result = client_pb2.InstructionResult(id=instruction.id)
    out = result.exchange
    tally = work.Tally(ex, out)
    budget = work.Budget(instruction.deadline_ms)
    channel = grpc.insecure_channel(instruction.server)
    try:
        with rpc_lock(budget):
            half_closed = threading.Event()

            def requests():
                for request in work.interlock_requests(ex):
                    yield request
                    # grpcio asks for the next one only once this one was sent.
                    out.sent += 1
                out.half_closed = True
                half_closed.set()

            call = client_pb2_grpc.ClientObserverStub(channel).Interlock(
                requests(), timeout=budget.left())
            # The call's end (its deadline at the latest) ends the waits below.
            call.add_done_callback(lambda _call: half_closed.set())
            if DEFECT in ("send-all-then-receive", "receive-after-half-close"):
                half_closed.wait()
            code = grpc.StatusCode.OK
            try:
                for response in call:
                    if tally.take(response):
                        if call.cancel():
                            tally.cancelled(True)
                            code = grpc.StatusCode.CANCELLED
                        else:
                            code = call.code()
                            tally.cancelled(False, code, call.details())
                        break
            except grpc.RpcError as e:
                code = e.code()
                out.code = work.status_code(code)
                out.message = e.details() or ""
            work.sender_stopped(out, code)
    finally:
        channel.close()
    return result


def run_instruction(instruction):
    error = work.kind_error(instruction)
    if error:
        return client_pb2.InstructionResult(id=instruction.id, adapter_error=error)
    if instruction.WhichOneof("work") == "calls":
        return run_calls(instruction)
    return run_exchange(instruction)


def main():
    hello = client_pb2.AdapterHello(
        protocol_version=PROTOCOL_VERSION, implementation="grpcio", version=grpc.__version__,
        api="grpc.insecure_channel (sync), one thread per task", defect=DEFECT)
    return serve(NAME, hello, run_instruction)


if __name__ == "__main__":
    sys.exit(main())
