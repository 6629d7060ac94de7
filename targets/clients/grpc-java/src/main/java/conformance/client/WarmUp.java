// A warm-up before the session: one RPC over a loopback socket that accepts
// the connection and never answers, with a short deadline. It loads and
// initialises Netty, the HTTP/2 codec and grpc-java's call path (about two
// seconds on this machine), which the first instruction would otherwise
// spend inside its own deadline and barrier timeouts.
package conformance.client;

import grpc.testing.Messages;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.stub.ClientCalls;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.concurrent.TimeUnit;

final class WarmUp {
  private WarmUp() {}

  static void run() {
    try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      ManagedChannel channel = Channels.open("127.0.0.1:" + silent.getLocalPort());
      try {
        ClientCalls.blockingUnaryCall(channel, Methods.UNARY_CALL,
            CallOptions.DEFAULT.withDeadlineAfter(300, TimeUnit.MILLISECONDS),
            Messages.SimpleRequest.getDefaultInstance());
      } catch (RuntimeException expected) {
        // DEADLINE_EXCEEDED: nobody answers.
      } finally {
        channel.shutdownNow();
      }
    } catch (IOException e) {
      System.err.println("grpc-java-client: warm-up skipped: " + e);
    }
  }
}
