// The deliberate client-side defects selected by --defect, and the
// process-wide lock of global-lock.
package conformance.client;

import io.grpc.Deadline;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

final class Defects {
  static final String NEW_CHANNEL_PER_CALL = "new-channel-per-call";
  static final String GLOBAL_LOCK = "global-lock";
  static final String SEND_ALL_THEN_RECEIVE = "send-all-then-receive";
  static final String RECEIVE_AFTER_HALF_CLOSE = "receive-after-half-close";
  static final List<String> ALL =
      List.of(NEW_CHANNEL_PER_CALL, GLOBAL_LOCK, SEND_ALL_THEN_RECEIVE, RECEIVE_AFTER_HALF_CLOSE);

  // Set once by main before any instruction runs ("" when faithful).
  static String defect = "";

  private static final ReentrantLock LOCK = new ReentrantLock();

  private Defects() {}

  static boolean is(String name) {
    return defect.equals(name);
  }

  /** A taken lock (or none): release() undoes it; held is false when the deadline came first. */
  static final class Held {
    final boolean held;

    private Held(boolean held) {
      this.held = held;
    }

    void release() {
      if (held && is(GLOBAL_LOCK)) LOCK.unlock();
    }
  }

  /** Takes the global lock under --defect global-lock, waiting at most until deadline. */
  static Held lockRpc(Deadline deadline) throws InterruptedException {
    if (!is(GLOBAL_LOCK)) return new Held(true);
    long left = Math.max(0, deadline.timeRemaining(TimeUnit.NANOSECONDS));
    return new Held(LOCK.tryLock(left, TimeUnit.NANOSECONDS));
  }
}
