'use strict';
// The Exchange instruction: one ClientObserver.Interlock stream on a channel
// of its own, a sender task and a receiver task on it at once (or, under the
// half-duplex defects, not at once).
//
// grpc-js's write() never blocks: it buffers and returns false past the
// stream's high-water mark. The sender waits for 'drain' then, which is the
// flow control grpc-js offers; without that wait the defects would not be
// defects (the library would take every request into memory). Likewise the
// receiver consumes responses only by its 'data' listener.
//
// But until the application first reads, grpc-js 1.14.7 takes every
// response off the HTTP/2 stream into a list of its own without pausing that
// stream (subchannel-call.js tryPush: canPush is false, so no pause), so the
// server's transport takes responses without bound and a half-duplex client
// never stalls: the library buffers everything and the defect is no defect.
// The half-duplex defects therefore prime the stream with read(0): grpc-js
// then fills the stream's readable buffer up to its high-water mark (16
// messages) and pauses the HTTP/2 stream, which is the read-side flow control
// it offers, while the adapter still consumes nothing until its half-close.

const { grpc, openChannel, lockRPC, statusOf } = require('./channel.js');

async function runExchange(instruction, defect) {
  const ex = instruction.exchange;
  const out = { code: 0, message: '', sent: 0, half_closed: false, received: 0, in_order: true, sender_error: '' };
  const deadline = new Date(Date.now() + instruction.deadline_ms);
  const channel = openChannel(instruction.server);
  const release = await lockRPC(defect, deadline);
  try {
    if (!release) {
      out.code = grpc.status.DEADLINE_EXCEEDED;
      out.message = 'deadline exceeded waiting for the global lock (--defect global-lock)';
      return { id: instruction.id, exchange: out };
    }
    const call = channel.observer.Interlock({ deadline });
    let final = null;
    const status = statusOf(call).then((s) => { final = s; return s; });
    const payload = Buffer.alloc(ex.request_size);
    if (defect === 'send-all-then-receive' || defect === 'receive-after-half-close') call.read(0);

    const send = async () => {
      for (let seq = 1; seq <= ex.messages; seq++) {
        if (final) break;
        const accepted = call.write({
          tag: ex.tag, seq: String(seq), response_size: ex.response_size,
          after_half_close: ex.after_half_close, payload,
        });
        out.sent++;
        if (!accepted) {
          await Promise.race([new Promise((resolve) => call.once('drain', resolve)), status]);
        }
      }
      if (final) {
        out.sender_error = `the call ended (${grpc.status[final.code]}) before every request was sent`;
        return;
      }
      call.end();
      out.half_closed = true;
    };

    let cancelled = false;
    const receive = async () => {
      call.on('data', (r) => {
        if (cancelled) return;
        out.received++;
        if (Number(r.seq) !== out.received || r.payload.length !== ex.response_size) out.in_order = false;
        if (ex.cancel_after > 0 && out.received >= ex.cancel_after) {
          cancelled = true;
          call.cancel();
        }
      });
      // After the receiver's cancel this is CANCELLED, unless the call had
      // ended before (its deadline): the first end wins.
      const s = await status;
      out.code = s.code;
      out.message = s.details || '';
    };

    if (defect === 'send-all-then-receive') {
      // One task: every request (waiting for 'drain'), the half-close, and
      // only then the responses.
      await send();
      await receive();
    } else if (defect === 'receive-after-half-close') {
      const sender = send();
      await sender;
      await receive();
    } else {
      await Promise.all([send(), receive()]);
    }
    return { id: instruction.id, exchange: out };
  } finally {
    if (release) release();
    channel.close();
  }
}

module.exports = { runExchange };
