// Opening and closing the instruction's channel: one ManagedChannel,
// plaintext h2c (Netty) to the loopback reference server.
package conformance.client;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.util.concurrent.TimeUnit;

final class Channels {
  private Channels() {}

  static ManagedChannel open(String server) {
    return ManagedChannelBuilder.forTarget(server).usePlaintext().build();
  }

  /** Shuts the channel down, bounded: its calls are over by now. */
  static void close(ManagedChannel channel) {
    channel.shutdown();
    try {
      if (!channel.awaitTermination(5, TimeUnit.SECONDS)) channel.shutdownNow();
    } catch (InterruptedException e) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }
}
