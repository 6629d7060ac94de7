// The Exchange instruction: one ClientObserver.Interlock stream with the
// async stub (ClientCalls.asyncBidiStreamingCall) on a ManagedChannel of its
// own: a sender thread and the receiver (the response observer) at once, or,
// under the half-duplex defects, not at once.
//
// StreamObserver.onNext never blocks: it buffers without bound. So the
// sender honours the flow control grpc-java offers, isReady() and the
// onReadyHandler, in every mode; and the half-duplex defects take the
// responses' flow control into their own hands (beforeStart:
// disableAutoRequestWithInitial(0)) and request responses only after the
// half-close. Otherwise the library would buffer everything both ways and
// the defects would be no defects.
package conformance.client;

import io.grpc.CallOptions;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import io.grpcconformance.v1.Exchange;
import io.grpcconformance.v1.ExchangeResult;
import io.grpcconformance.v1.Instruction;
import io.grpcconformance.v1.InstructionResult;
import io.grpcconformance.v1.InterlockRequest;
import io.grpcconformance.v1.InterlockResponse;
import com.google.protobuf.ByteString;
import java.util.concurrent.TimeUnit;

final class InterlockExchange
    implements ClientResponseObserver<InterlockRequest, InterlockResponse> {
  private final Exchange ex;
  private final Deadline deadline;
  // The half-duplex defects request responses by hand, after the half-close.
  private final boolean requestByHand;
  // Guards the fields below; notified when the call becomes ready or ends.
  private final Object lock = new Object();
  private ClientCallStreamObserver<InterlockRequest> call;
  private int received;
  private boolean inOrder = true;
  private boolean cancelledByReceiver;
  private Status end;
  // The sender's record (written by the sender only, read after it is done).
  private volatile int sent;
  private volatile boolean halfClosed;
  private volatile String senderError = "";

  private InterlockExchange(Exchange ex, Deadline deadline, boolean requestByHand) {
    this.ex = ex;
    this.deadline = deadline;
    this.requestByHand = requestByHand;
  }

  static InstructionResult run(Instruction in) throws InterruptedException {
    Deadline deadline = Deadline.after(in.getDeadlineMs(), TimeUnit.MILLISECONDS);
    boolean halfDuplex = Defects.is(Defects.SEND_ALL_THEN_RECEIVE)
        || Defects.is(Defects.RECEIVE_AFTER_HALF_CLOSE);
    InterlockExchange x = new InterlockExchange(in.getExchange(), deadline, halfDuplex);
    ManagedChannel channel = Channels.open(in.getServer());
    Defects.Held held = Defects.lockRpc(deadline);
    try {
      if (!held.held) {
        return InstructionResult.newBuilder().setId(in.getId())
            .setExchange(ExchangeResult.newBuilder().setInOrder(true)
                .setCode(Status.Code.DEADLINE_EXCEEDED.value())
                .setMessage("deadline exceeded waiting for the global lock (--defect global-lock)"))
            .build();
      }
      ClientCalls.asyncBidiStreamingCall(
          channel.newCall(Methods.INTERLOCK, CallOptions.DEFAULT.withDeadline(deadline)), x);
      if (Defects.is(Defects.SEND_ALL_THEN_RECEIVE)) {
        // One task: every request, the half-close, and only then the responses.
        x.send();
        x.requestResponses();
      } else {
        Thread sender = new Thread(x::send, "sender");
        sender.setDaemon(true);
        sender.start();
        if (halfDuplex) {
          // The sender ends at its half-close, or when the call ends.
          sender.join();
          x.requestResponses();
        }
        x.awaitEnd();
        sender.join();
      }
      x.awaitEnd();
      return InstructionResult.newBuilder().setId(in.getId()).setExchange(x.result()).build();
    } finally {
      held.release();
      Channels.close(channel);
    }
  }

  @Override
  public void beforeStart(ClientCallStreamObserver<InterlockRequest> requestStream) {
    call = requestStream;
    if (requestByHand) requestStream.disableAutoRequestWithInitial(0);
    requestStream.setOnReadyHandler(() -> {
      synchronized (lock) {
        lock.notifyAll();
      }
    });
  }

  @Override
  public void onNext(InterlockResponse r) {
    boolean cancel = false;
    synchronized (lock) {
      if (cancelledByReceiver) return;
      received++;
      if (r.getSeq() != received || r.getPayload().size() != ex.getResponseSize()) inOrder = false;
      if (ex.getCancelAfter() > 0 && received >= ex.getCancelAfter()) {
        cancelledByReceiver = true;
        cancel = true;
      }
    }
    if (cancel) {
      call.cancel("cancelled by the receiver after " + ex.getCancelAfter() + " responses", null);
    } else if (requestByHand) {
      call.request(1);
    }
  }

  @Override
  public void onError(Throwable t) {
    ended(Status.fromThrowable(t));
  }

  @Override
  public void onCompleted() {
    ended(Status.OK);
  }

  private void ended(Status status) {
    synchronized (lock) {
      if (end == null) end = status;
      lock.notifyAll();
    }
  }

  /** The sender: each request once the call is ready (flow control), then the half-close. */
  private void send() {
    ByteString payload = ByteString.copyFrom(new byte[ex.getRequestSize()]);
    try {
      for (long seq = 1; seq <= ex.getMessages(); seq++) {
        synchronized (lock) {
          while (end == null && !call.isReady()) lock.wait(50);
          if (end != null) {
            senderError = "the call ended (" + end.getCode() + ") before every request was sent";
            return;
          }
        }
        call.onNext(InterlockRequest.newBuilder().setTag(ex.getTag()).setSeq(seq)
            .setResponseSize(ex.getResponseSize()).setAfterHalfClose(ex.getAfterHalfClose())
            .setPayload(payload).build());
        sent++;
      }
      call.onCompleted();
      halfClosed = true;
    } catch (InterruptedException e) {
      senderError = "interrupted";
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      // A send on a cancelled or ended call fails: stop there.
      senderError = e.toString();
    }
  }

  private void requestResponses() {
    synchronized (lock) {
      if (end != null) return;
    }
    call.request(1);
  }

  /** Waits for the call's end; the deadline ends it at the latest (a second's grace). */
  private void awaitEnd() throws InterruptedException {
    long limit = System.nanoTime() + deadline.timeRemaining(TimeUnit.NANOSECONDS)
        + TimeUnit.SECONDS.toNanos(1);
    synchronized (lock) {
      while (end == null) {
        long left = TimeUnit.NANOSECONDS.toMillis(limit - System.nanoTime());
        if (left <= 0) {
          call.cancel("the call outlived its deadline", null);
          end = Status.DEADLINE_EXCEEDED.withDescription("the call outlived its deadline");
          break;
        }
        lock.wait(left);
      }
    }
  }

  private ExchangeResult result() {
    synchronized (lock) {
      ExchangeResult.Builder b = ExchangeResult.newBuilder().setSent(sent).setHalfClosed(halfClosed)
          .setReceived(received).setInOrder(inOrder).setSenderError(senderError);
      // After the receiver's cancel this is CANCELLED, unless the call had
      // ended before (its deadline): the first end wins.
      b.setCode(end.getCode().value())
          .setMessage(end.getDescription() == null ? "" : end.getDescription());
      return b.build();
    }
  }
}
