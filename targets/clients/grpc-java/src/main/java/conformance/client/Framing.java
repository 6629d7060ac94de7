// The client-under-test protocol's framing (proto/conformance/v1/client.proto):
// each message is a 4-byte big-endian length and that many bytes of protobuf,
// HarnessMessages on stdin, AdapterMessages on stdout.
package conformance.client;

import com.google.protobuf.InvalidProtocolBufferException;
import io.grpcconformance.v1.AdapterMessage;
import io.grpcconformance.v1.HarnessMessage;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;

final class Framing {
  // A length prefix claiming more than this is a stray byte stream, not a message.
  static final int MAX_FRAME = 64 << 20;

  /** A message on stdin that is not a HarnessMessage of this protocol. */
  static final class Malformed extends Exception {
    Malformed(String message) {
      super(message);
    }
  }

  private Framing() {}

  /** The next HarnessMessage, or null at a clean end of input. */
  static HarnessMessage read(DataInputStream in) throws IOException, Malformed {
    byte[] prefix = new byte[4];
    int got = 0;
    while (got < 4) {
      int n = in.read(prefix, got, 4 - got);
      if (n < 0) {
        if (got == 0) return null;
        throw new Malformed("truncated length prefix (" + got + " of 4 bytes)");
      }
      got += n;
    }
    long size = ByteBuffer.wrap(prefix).getInt() & 0xffffffffL;
    if (size > MAX_FRAME) {
      throw new Malformed("length prefix " + size + " exceeds " + MAX_FRAME + " bytes");
    }
    byte[] body = new byte[(int) size];
    try {
      in.readFully(body);
    } catch (EOFException e) {
      throw new Malformed("truncated message (fewer than " + size + " bytes)");
    }
    try {
      return HarnessMessage.parseFrom(body);
    } catch (InvalidProtocolBufferException e) {
      throw new Malformed("undecodable HarnessMessage of " + size + " bytes: " + e.getMessage());
    }
  }

  static void write(OutputStream out, AdapterMessage message) throws IOException {
    byte[] body = message.toByteArray();
    out.write(ByteBuffer.allocate(4).putInt(body.length).array());
    out.write(body);
    out.flush();
  }
}
