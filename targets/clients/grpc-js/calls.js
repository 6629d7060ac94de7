'use strict';
// The Calls instruction: every call an async task of its own, all started at
// once, on the instruction's one channel (one per call under
// new-channel-per-call), each with the instruction's deadline.

const { grpc, OWN_CONNECTION, openChannel, lockRPC, statusOf } = require('./channel.js');

function unary(stub, method, request, deadline) {
  return new Promise((resolve, reject) => {
    stub[method](request, { deadline }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

// Sends the one request, reads the one response, half-closes, reads to the
// end; records the response's caller and the status in res.
async function gatherStream(stub, request, deadline, res) {
  const call = stub.GatherStream({ deadline });
  const status = statusOf(call);
  const first = new Promise((resolve) => call.once('data', resolve));
  call.on('data', () => {});
  call.write(request);
  const got = await Promise.race([first, status.then(() => null)]);
  if (got) {
    res.reply_caller = got.caller;
    call.end();
  }
  const s = await status;
  res.code = s.code;
  res.message = s.details || '';
}

async function runCall(server, shared, deadlineMs, defect, call) {
  const start = Date.now();
  // The deadline runs from the task's start: a call queued behind the global
  // lock spends its own time waiting, so every task stays bounded.
  const deadline = new Date(start + deadlineMs);
  const res = { caller: call.caller, code: 0, message: '', reply_caller: '', reply_size: 0, elapsed_ms: 0 };
  const own = shared ? null : openChannel(server, OWN_CONNECTION);
  const stubs = shared || own;
  const release = await lockRPC(defect, deadline);
  try {
    if (!release) {
      res.code = grpc.status.DEADLINE_EXCEEDED;
      res.message = 'deadline exceeded waiting for the global lock (--defect global-lock)';
    } else if (call.rpc === 'gather_stream') {
      await gatherStream(stubs.observer, call.gather_stream, deadline, res);
    } else if (call.rpc === 'gather') {
      res.reply_caller = (await unary(stubs.observer, 'Gather', call.gather, deadline)).caller;
    } else if (call.rpc === 'rendezvous') {
      await unary(stubs.probe, 'Rendezvous', call.rendezvous, deadline);
    } else {
      const r = await unary(stubs.test, 'UnaryCall', { response_size: call.unary_response_size }, deadline);
      res.reply_size = r.payload && r.payload.body ? r.payload.body.length : 0;
    }
  } catch (err) {
    res.code = typeof err.code === 'number' ? err.code : grpc.status.UNKNOWN;
    res.message = err.details || err.message || '';
  } finally {
    if (release) release();
    if (own) own.close();
    res.elapsed_ms = Date.now() - start;
  }
  return res;
}

async function runCalls(instruction, defect) {
  const shared = defect === 'new-channel-per-call' ? null : openChannel(instruction.server);
  try {
    const calls = await Promise.all(instruction.calls.calls.map(
      (call) => runCall(instruction.server, shared, instruction.deadline_ms, defect, call)));
    return { id: instruction.id, calls };
  } finally {
    if (shared) shared.close();
  }
}

module.exports = { runCalls };
