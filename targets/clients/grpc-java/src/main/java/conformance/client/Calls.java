// The Calls instruction: every call on a thread of its own, all started at
// once, with blocking stubs (ClientCalls.blockingUnaryCall, and
// blockingBidiStreamingCall for GatherStream) on the instruction's one
// ManagedChannel (one per call under new-channel-per-call), each with the
// instruction's deadline.
package conformance.client;

import conformance.v1.Probe;
import grpc.testing.Messages;
import io.grpc.CallOptions;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.stub.BlockingClientCall;
import io.grpc.stub.ClientCalls;
import io.grpcconformance.v1.Call;
import io.grpcconformance.v1.CallResult;
import io.grpcconformance.v1.GatherRequest;
import io.grpcconformance.v1.GatherResponse;
import io.grpcconformance.v1.Instruction;
import io.grpcconformance.v1.InstructionResult;
import io.grpcconformance.v1.RendezvousCall;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

final class Calls {
  private Calls() {}

  static InstructionResult run(Instruction in) throws InterruptedException {
    List<Call> calls = in.getCalls().getCallsList();
    ManagedChannel shared =
        Defects.is(Defects.NEW_CHANNEL_PER_CALL) ? null : Channels.open(in.getServer());
    CallResult[] results = new CallResult[calls.size()];
    List<Thread> threads = new ArrayList<>();
    try {
      for (int i = 0; i < calls.size(); i++) {
        int at = i;
        Thread t = new Thread(() -> results[at] = runCall(in, shared, calls.get(at)), "call-" + i);
        t.setDaemon(true);
        threads.add(t);
        t.start();
      }
      for (Thread t : threads) t.join();
    } finally {
      if (shared != null) Channels.close(shared);
    }
    return InstructionResult.newBuilder().setId(in.getId()).addAllCalls(List.of(results)).build();
  }

  /** One call on channel, or on a channel of its own when channel is null; never throws. */
  private static CallResult runCall(Instruction in, ManagedChannel channel, Call call) {
    long start = System.nanoTime();
    // The deadline runs from the task's start: a call queued behind the global
    // lock spends its own time waiting, so every task stays bounded.
    Deadline deadline = Deadline.after(in.getDeadlineMs(), TimeUnit.MILLISECONDS);
    CallResult.Builder res = CallResult.newBuilder().setCaller(call.getCaller());
    ManagedChannel own = channel == null ? Channels.open(in.getServer()) : null;
    ManagedChannel ch = channel == null ? own : channel;
    Defects.Held lock = null;
    try {
      lock = Defects.lockRpc(deadline);
      if (!lock.held) {
        res.setCode(Status.Code.DEADLINE_EXCEEDED.value())
            .setMessage("deadline exceeded waiting for the global lock (--defect global-lock)");
        return res.build();
      }
      CallOptions options = CallOptions.DEFAULT.withDeadline(deadline);
      switch (call.getRpcCase()) {
        case GATHER:
          res.setReplyCaller(
              ClientCalls.blockingUnaryCall(ch, Methods.GATHER, options, call.getGather()).getCaller());
          break;
        case GATHER_STREAM:
          res.setReplyCaller(gatherStream(ch, options, call.getGatherStream()));
          break;
        case RENDEZVOUS:
          RendezvousCall r = call.getRendezvous();
          ClientCalls.blockingUnaryCall(ch, Methods.RENDEZVOUS, options,
              Probe.RendezvousRequest.newBuilder().setGroup(r.getGroup()).setParties(r.getParties())
                  .setTimeoutMs(r.getTimeoutMs()).setScope(r.getScope()).build());
          break;
        default:
          Messages.SimpleResponse resp = ClientCalls.blockingUnaryCall(ch, Methods.UNARY_CALL, options,
              Messages.SimpleRequest.newBuilder().setResponseSize(call.getUnaryResponseSize()).build());
          res.setReplySize(resp.getPayload().getBody().size());
          break;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      res.setCode(Status.Code.CANCELLED.value()).setMessage("interrupted");
    } catch (RuntimeException | StatusException e) {
      Status s = Status.fromThrowable(e);
      res.setCode(s.getCode().value()).setMessage(s.getDescription() == null ? "" : s.getDescription());
    } finally {
      if (lock != null) lock.release();
      if (own != null) Channels.close(own);
      res.setElapsedMs((int) TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
    }
    return res.build();
  }

  /** Sends the one request, reads the one response, half-closes, reads to the end. */
  private static String gatherStream(ManagedChannel ch, CallOptions options, GatherRequest req)
      throws InterruptedException, StatusException {
    BlockingClientCall<GatherRequest, GatherResponse> stream =
        ClientCalls.blockingBidiStreamingCall(ch, Methods.GATHER_STREAM, options);
    try {
      stream.write(req);
      GatherResponse first = stream.read();
      stream.halfClose();
      while (stream.read() != null) {
        // to the end of the stream
      }
      return first == null ? "" : first.getCaller();
    } catch (InterruptedException | RuntimeException e) {
      stream.cancel("adapter stopped", e);
      throw e;
    }
  }
}
