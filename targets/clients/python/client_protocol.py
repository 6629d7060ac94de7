"""The client-under-test protocol's framing and session loop, shared by the
grpcio and grpcio-aio client adapters (proto/conformance/v1/client.proto).

Each message is a 4-byte big-endian length and that many bytes of protobuf:
HarnessMessages on stdin, AdapterMessages on stdout. The session answers
`hello` with the adapter's own hello and each `instruction` with its result,
one at a time; stdin closed on a frame boundary ends it (exit 0). A malformed
message is a line on stderr and exit 1.
"""

import struct
import sys

from google.protobuf.message import DecodeError

from conformance_stubs.conformance_v1 import client_pb2

PROTOCOL_VERSION = 1
# A length prefix claiming more than this is a stray byte stream, not a message.
MAX_FRAME = 64 << 20


class Malformed(Exception):
    """A message on stdin that is not a HarnessMessage of this protocol."""


def _read_exactly(stream, size):
    chunks = []
    left = size
    while left:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_harness_message(stream):
    """The next HarnessMessage, or None at a clean end of input."""
    prefix = _read_exactly(stream, 4)
    if not prefix:
        return None
    if len(prefix) < 4:
        raise Malformed(f"truncated length prefix ({len(prefix)} of 4 bytes)")
    (size,) = struct.unpack(">I", prefix)
    if size > MAX_FRAME:
        raise Malformed(f"length prefix {size} exceeds {MAX_FRAME} bytes")
    body = _read_exactly(stream, size)
    if len(body) < size:
        raise Malformed(f"truncated message ({len(body)} of {size} bytes)")
    message = client_pb2.HarnessMessage()
    try:
        message.ParseFromString(body)
    except DecodeError as e:
        raise Malformed(f"undecodable HarnessMessage of {size} bytes: {e}") from e
    return message


def write_adapter_message(stream, message):
    body = message.SerializeToString()
    stream.write(struct.pack(">I", len(body)) + body)
    stream.flush()


def serve(name, hello, run_instruction):
    """Runs the session on stdin/stdout. `hello` is the AdapterHello to send;
    `run_instruction(instruction)` returns its InstructionResult (it never
    raises for a failed RPC). Returns the process's exit status."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            message = read_harness_message(stdin)
        except Malformed as e:
            print(f"{name}: malformed message on stdin: {e}", file=sys.stderr)
            return 1
        if message is None:
            return 0
        kind = message.WhichOneof("kind")
        if kind == "hello":
            if message.hello.protocol_version != PROTOCOL_VERSION:
                print(f"{name}: harness speaks protocol version "
                      f"{message.hello.protocol_version}, this adapter {PROTOCOL_VERSION}",
                      file=sys.stderr)
            reply = client_pb2.AdapterMessage(hello=hello)
        elif kind == "instruction":
            reply = client_pb2.AdapterMessage(result=run_instruction(message.instruction))
        else:
            print(f"{name}: malformed message on stdin: HarnessMessage with no known kind",
                  file=sys.stderr)
            return 1
        write_adapter_message(stdout, reply)
