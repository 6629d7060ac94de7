'use strict';
// The client-under-test protocol's framing (proto/conformance/v1/client.proto):
// each message is a 4-byte big-endian length and that many bytes of protobuf,
// HarnessMessages on stdin, AdapterMessages on stdout. Decoded and encoded
// with protobufjs from the same .proto the services are loaded from.

const path = require('path');
const { protobuf } = require('./modules.js');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', '..', 'proto');
// A length prefix claiming more than this is a stray byte stream, not a message.
const MAX_FRAME = 64 << 20;

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => path.join(PROTO_ROOT, target);
root.loadSync('conformance/v1/client.proto', { keepCase: true });
const HarnessMessage = root.lookupType('conformance.v1.HarnessMessage');
const AdapterMessage = root.lookupType('conformance.v1.AdapterMessage');

class Malformed extends Error {}

// Reads frames from a readable stream, one at a time.
class FrameReader {
  constructor(stream) {
    this.buf = Buffer.alloc(0);
    this.ended = false;
    this.wake = null;
    stream.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.notify(); });
    stream.on('end', () => { this.ended = true; this.notify(); });
  }

  notify() {
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }

  // The next HarnessMessage as a plain object (uint64 as strings, oneof
  // names set), or null at a clean end of input; throws Malformed.
  async next() {
    for (;;) {
      if (this.buf.length >= 4) {
        const size = this.buf.readUInt32BE(0);
        if (size > MAX_FRAME) throw new Malformed(`length prefix ${size} exceeds ${MAX_FRAME} bytes`);
        if (this.buf.length >= 4 + size) {
          const body = this.buf.subarray(4, 4 + size);
          this.buf = this.buf.subarray(4 + size);
          let message;
          try {
            message = HarnessMessage.decode(body);
          } catch (e) {
            throw new Malformed(`undecodable HarnessMessage of ${size} bytes: ${e.message}`);
          }
          return HarnessMessage.toObject(message, { longs: String, defaults: true, oneofs: true });
        }
      }
      if (this.ended) {
        if (this.buf.length === 0) return null;
        throw new Malformed(this.buf.length < 4
          ? `truncated length prefix (${this.buf.length} of 4 bytes)`
          : `truncated message (${this.buf.length - 4} of ${this.buf.readUInt32BE(0)} bytes)`);
      }
      await new Promise((resolve) => { this.wake = resolve; });
    }
  }
}

// Writes one AdapterMessage (a plain object) as a frame.
function writeAdapterMessage(stream, object) {
  const body = AdapterMessage.encode(AdapterMessage.fromObject(object)).finish();
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(body.length, 0);
  return new Promise((resolve, reject) => {
    stream.write(Buffer.concat([prefix, body]), (err) => (err ? reject(err) : resolve()));
  });
}

module.exports = { FrameReader, Malformed, writeAdapterMessage };
