// grpc-java client adapter: speaks the client-under-test protocol
// (proto/conformance/v1/client.proto) on stdin/stdout and carries out each
// instruction with grpc-java: one ManagedChannel per instruction, blocking
// stubs on a thread per task for Calls, the async stub for Exchange.
//
// Usage: GrpcJavaClient [--defect new-channel-per-call|global-lock|
//                        send-all-then-receive|receive-after-half-close]
//        GrpcJavaClient --version
// Logs go to stderr. A malformed message on stdin: a line on stderr, exit 1.
// stdin closed: exit 0.
package conformance.client;

import io.grpc.internal.GrpcUtil;
import io.grpcconformance.v1.AdapterHello;
import io.grpcconformance.v1.AdapterMessage;
import io.grpcconformance.v1.Call;
import io.grpcconformance.v1.HarnessMessage;
import io.grpcconformance.v1.Instruction;
import io.grpcconformance.v1.InstructionResult;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;

public final class GrpcJavaClient {
  private static final int PROTOCOL_VERSION = 1;

  private GrpcJavaClient() {}

  private static void log(String line) {
    System.err.println("grpc-java-client: " + line);
  }

  public static void main(String[] args) throws Exception {
    if (args.length == 1 && args[0].equals("--version")) {
      System.out.println("grpc-java " + GrpcUtil.IMPLEMENTATION_VERSION);
      return;
    }
    if (args.length == 2 && args[0].equals("--defect") && Defects.ALL.contains(args[1])) {
      Defects.defect = args[1];
    } else if (args.length != 0) {
      log("usage: GrpcJavaClient [--defect " + String.join("|", Defects.ALL) + "] | --version");
      System.exit(2);
    }
    // Nothing but frames may reach stdout: the protocol owns the descriptor,
    // and System.out is pointed at stderr for any stray print of a library.
    OutputStream out = new BufferedOutputStream(new FileOutputStream(FileDescriptor.out));
    System.setOut(System.err);
    DataInputStream in = new DataInputStream(new BufferedInputStream(System.in));
    WarmUp.run();
    System.exit(serve(in, out));
  }

  private static int serve(DataInputStream in, OutputStream out) throws IOException, InterruptedException {
    while (true) {
      HarnessMessage m;
      try {
        m = Framing.read(in);
      } catch (Framing.Malformed e) {
        log("malformed message on stdin: " + e.getMessage());
        return 1;
      }
      if (m == null) return 0;
      AdapterMessage reply;
      switch (m.getKindCase()) {
        case HELLO:
          if (m.getHello().getProtocolVersion() != PROTOCOL_VERSION) {
            log("harness speaks protocol version " + m.getHello().getProtocolVersion()
                + ", this adapter " + PROTOCOL_VERSION);
          }
          reply = AdapterMessage.newBuilder().setHello(AdapterHello.newBuilder()
              .setProtocolVersion(PROTOCOL_VERSION).setImplementation("grpc-java")
              .setVersion(GrpcUtil.IMPLEMENTATION_VERSION)
              .setApi("ManagedChannel; blocking stubs on a thread per task (Calls), the async stub (Exchange)")
              .setDefect(Defects.defect)).build();
          break;
        case INSTRUCTION:
          reply = AdapterMessage.newBuilder().setResult(run(m.getInstruction())).build();
          break;
        default:
          log("malformed message on stdin: HarnessMessage with no known kind");
          return 1;
      }
      Framing.write(out, reply);
    }
  }

  private static InstructionResult run(Instruction in) throws InterruptedException {
    switch (in.getWorkCase()) {
      case CALLS:
        for (Call c : in.getCalls().getCallsList()) {
          if (c.getRpcCase() == Call.RpcCase.RPC_NOT_SET) {
            return error(in, "call \"" + c.getCaller() + "\": no rpc set (an rpc kind this adapter does not know?)");
          }
        }
        return Calls.run(in);
      case EXCHANGE:
        return InterlockExchange.run(in);
      default:
        return error(in, "instruction of a kind this adapter does not know (no calls, no exchange)");
    }
  }

  private static InstructionResult error(Instruction in, String message) {
    return InstructionResult.newBuilder().setId(in.getId()).setAdapterError(message).build();
  }
}
