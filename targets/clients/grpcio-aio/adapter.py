"""grpcio client adapter, grpc.aio API: speaks the client-under-test
protocol (proto/conformance/v1/client.proto) on stdin/stdout and carries out
each instruction with one grpc.aio.insecure_channel and an asyncio task per
task, on one event loop.

Usage: adapter.py [--defect new-channel-per-call|global-lock|
                   send-all-then-receive|receive-after-half-close]

The exchange's sender awaits each write (grpc.aio completes it under flow
control) and then done_writing; the receiver awaits read until EOF.
"""

import asyncio
import sys

import grpc

import client_work as work
from client_protocol import PROTOCOL_VERSION, serve
from conformance_stubs.conformance_v1 import client_pb2, client_pb2_grpc

NAME = "grpcio-aio-client"
DEFECT = work.parse_args(NAME).defect
# One event loop runs every task, so an asyncio.Lock is process-wide.
GLOBAL_LOCK = asyncio.Lock()


class RpcLock:
    """Holds the global lock around a whole RPC under --defect global-lock;
    `held` is False when the budget ran out first."""

    def __init__(self, budget):
        self.budget = budget
        self.held = False

    async def __aenter__(self):
        if DEFECT != "global-lock":
            self.held = True
            return self
        try:
            await asyncio.wait_for(GLOBAL_LOCK.acquire(), self.budget.left())
        except asyncio.TimeoutError:
            return self
        self.held = True
        return self

    async def __aexit__(self, *exc):
        if DEFECT == "global-lock" and self.held:
            GLOBAL_LOCK.release()


async def finish(call, target):
    """Records a finished call's status in target (code, message)."""
    code = await call.code()
    target.code = work.status_code(code)
    target.message = (await call.details()) or ""
    return code


async def gather_stream(channel, request, timeout, result):
    """Sends the one request, reads the one response, half-closes, reads to
    the end; records the response's caller and the status."""
    call = client_pb2_grpc.ClientObserverStub(channel).GatherStream(timeout=timeout)
    await call.write(request)
    response = await call.read()
    if response is not grpc.aio.EOF:
        result.reply_caller = response.caller
        await call.done_writing()
        while await call.read() is not grpc.aio.EOF:
            pass
    await finish(call, result)


async def run_call(server, channel, deadline_ms, call):
    budget = work.Budget(deadline_ms)
    result = client_pb2.CallResult(caller=call.caller)
    own = None
    try:
        if channel is None:
            own = channel = grpc.aio.insecure_channel(server, options=work.OWN_CONNECTION)
        async with RpcLock(budget) as lock:
            if not lock.held:
                work.lock_timed_out(result)
                return result
            try:
                if call.WhichOneof("rpc") == "gather_stream":
                    await gather_stream(channel, call.gather_stream, budget.left(), result)
                else:
                    service, method, request, fill = work.unary_plan(call)
                    stub = work.STUBS[service](channel)
                    fill(result, await getattr(stub, method)(request, timeout=budget.left()))
            except grpc.aio.AioRpcError as e:
                result.code = work.status_code(e.code())
                result.message = e.details() or ""
        return result
    finally:
        if own is not None:
            await own.close()
        result.elapsed_ms = budget.elapsed_ms()


async def run_calls(instruction):
    result = client_pb2.InstructionResult(id=instruction.id)
    channel = None if DEFECT == "new-channel-per-call" else grpc.aio.insecure_channel(instruction.server)
    try:
        results = await asyncio.gather(*(
            run_call(instruction.server, channel, instruction.deadline_ms, call)
            for call in instruction.calls.calls))
    finally:
        if channel is not None:
            await channel.close()
    result.calls.extend(results)
    return result


async def run_exchange(instruction):
    ex = instruction.exchange
    result = client_pb2.InstructionResult(id=instruction.id)
    out = result.exchange
    tally = work.Tally(ex, out)
    budget = work.Budget(instruction.deadline_ms)
    channel = grpc.aio.insecure_channel(instruction.server)
    try:
        async with RpcLock(budget):
            call = client_pb2_grpc.ClientObserverStub(channel).Interlock(timeout=budget.left())
            half_closed = asyncio.Event()

            async def send():
                try:
                    for request in work.interlock_requests(ex):
                        await call.write(request)
                        out.sent += 1
                    await call.done_writing()
                    out.half_closed = True
                except grpc.aio.AioRpcError as e:
                    out.sender_error = f"{e.code().name}: {e.details() or ''}"
                except (Exception, asyncio.CancelledError) as e:
                    # A write on an ended or cancelled call fails: stop there.
                    out.sender_error = f"{type(e).__name__}: {e}"
                finally:
                    half_closed.set()

            async def receive():
                try:
                    while True:
                        response = await call.read()
                        if response is grpc.aio.EOF:
                            return await finish(call, out)
                        if tally.take(response):
                            if call.cancel():
                                tally.cancelled(True)
                                return grpc.StatusCode.CANCELLED
                            code = await call.code()
                            tally.cancelled(False, code, await call.details())
                            return code
                except grpc.aio.AioRpcError as e:
                    out.code = work.status_code(e.code())
                    out.message = e.details() or ""
                    return e.code()

            if DEFECT == "send-all-then-receive":
                # One task: every request, the half-close, then the responses.
                await send()
                code = await receive()
            else:
                sender = asyncio.ensure_future(send())
                if DEFECT == "receive-after-half-close":
                    await half_closed.wait()
                code = await receive()
                await sender
            work.sender_stopped(out, code)
    finally:
        await channel.close()
    return result


async def run_instruction(instruction):
    error = work.kind_error(instruction)
    if error:
        return client_pb2.InstructionResult(id=instruction.id, adapter_error=error)
    if instruction.WhichOneof("work") == "calls":
        return await run_calls(instruction)
    return await run_exchange(instruction)


def main():
    hello = client_pb2.AdapterHello(
        protocol_version=PROTOCOL_VERSION, implementation="grpcio", version=grpc.__version__,
        api="grpc.aio.insecure_channel, one asyncio task per task", defect=DEFECT)
    loop = asyncio.new_event_loop()
    try:
        return serve(NAME, hello, lambda instruction: loop.run_until_complete(
            run_instruction(instruction)))
    finally:
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
