'use strict';
// grpc-js target adapter: grpc.testing.TestService and conformance.v1.ProbeService
// on @grpc/grpc-js, with the .proto files of ../../proto loaded at start-up by
// @grpc/proto-loader (grpc-js's public code-generation path).
//
// Usage: node server.js PORT [--defect NAME] [--test-only] [--max-concurrent-streams N]
// (listens on 127.0.0.1:PORT, plaintext HTTP/2). Without flags: the faithful
// default. The flags select the defect fixtures and limited configurations of
// ../fixtures.toml (see ../README.md, "Defect fixtures"):
//   --defect global-lock     every handler (both services, for the whole call)
//                            runs behind one process-wide promise-chain mutex
//   --defect blocking-wait   TestService's waits (interval_us of the response
//                            parameters) block the event loop (Atomics.wait)
//   --defect busy-wait       the same waits spin on the clock
//   --defect read-all-first  FullDuplexCall reads every request until the
//                            client half-closes before it sends any response
//   --test-only              ProbeService is not registered
//   --max-concurrent-streams N  server option 'grpc.max_concurrent_streams'
// Anything else: the usage on stderr, exit 2.
//
// Logs go to stderr. SIGTERM/SIGINT: server.tryShutdown (refuse new RPCs, let
// in-flight ones finish) bounded to 5 s, then forceShutdown, then exit 0.
//
// Node runs every handler on one event loop thread. The hold modes are honest
// about that: BLOCK_THREAD and SPIN really stall that thread (and with it every
// other RPC of the process), which is what the suite is meant to show.

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const grpcJsVersion = require('@grpc/grpc-js/package.json').version;
// The ProbeService state and hold primitives shared with connect-node.
const probe = require('../node/probe_state.js');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');
const { MAX_DURATION_MS, capMs, blockThread, spin } = probe;
const GRACE_MS = 5000;
const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';
const DEFECTS = ['global-lock', 'blocking-wait', 'busy-wait', 'read-all-first'];
const USAGE = `usage: node server.js PORT [--defect ${DEFECTS.join('|')}] [--test-only] [--max-concurrent-streams N]`;

// The variant the command line selects (see the usage at the top).
const flags = { port: 0, defect: null, testOnly: false, maxConcurrentStreams: null };

function log(...args) {
  console.error('grpc-js-server:', ...args);
}

function loadProtos() {
  const def = protoLoader.loadSync(
    ['grpc/testing/test.proto', 'conformance/v1/probe.proto'],
    {
      includeDirs: [PROTO_ROOT],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    },
  );
  return grpc.loadPackageDefinition(def);
}

function statusError(code, details, metadata) {
  const err = new Error(details);
  err.code = code;
  err.details = details;
  if (metadata) err.metadata = metadata;
  return err;
}

// ---------------------------------------------------------------------------
// Metadata echo (TestService, unary and streaming).

// Sends the initial echo at once (response headers) and returns the trailer
// metadata to end the call with.
function echo(call) {
  const initial = call.metadata.get(ECHO_INITIAL);
  if (initial.length > 0) {
    const md = new grpc.Metadata();
    for (const v of initial) md.add(ECHO_INITIAL, v);
    call.sendMetadata(md);
  }
  const trailer = new grpc.Metadata();
  for (const v of call.metadata.get(ECHO_TRAILING)) trailer.add(ECHO_TRAILING, v);
  return trailer;
}

// Ends a server-streaming or bidi call with OK or with err, plus trailers.
function endStream(call, err, trailer) {
  if (call.cancelled) return;
  if (err) {
    err.metadata = trailer;
    call.emit('error', err);
  } else {
    call.end(trailer);
  }
}

function echoStatusError(s) {
  if (s && s.code) return statusError(s.code, s.message || '');
  return null;
}

function payload(size) {
  if (size < 0) throw statusError(grpc.status.INVALID_ARGUMENT, `negative payload size ${size}`);
  return { type: 'COMPRESSABLE', body: Buffer.alloc(size) };
}

// The call's cancellation as probe_state.js takes it.
function cancelOf(call) {
  return {
    aborted: () => call.cancelled,
    on: (fn) => call.once('cancelled', fn),
    off: (fn) => call.removeListener('cancelled', fn),
  };
}

// Resolves true after ms, or false as soon as the call is cancelled.
function sleepUnlessCancelled(call, ms) {
  return probe.sleepUnlessCancelled(cancelOf(call), ms);
}

function cancelledError() {
  return statusError(grpc.status.CANCELLED, 'call cancelled');
}

// How TestService waits interval_us: a timer (faithful), or under the
// blocking-wait / busy-wait defects a wait that keeps the event loop's only
// thread (no timer, I/O or other handler runs meanwhile; cancellation is only
// seen afterwards).
function testWait(call, ms) {
  if (flags.defect === 'blocking-wait' || flags.defect === 'busy-wait') {
    const capped = Math.min(ms, MAX_DURATION_MS);
    if (capped > 0) {
      if (flags.defect === 'blocking-wait') blockThread(capped);
      else spin(capped);
    }
    return Promise.resolve(!call.cancelled);
  }
  return sleepUnlessCancelled(call, ms);
}

// StreamingOutputCall behaviour for one request: per entry, wait interval_us,
// send size zero bytes. Returns the status error to end with, or null.
async function streamOutput(call, req) {
  for (const rp of req.response_parameters || []) {
    if (!(await testWait(call, (rp.interval_us || 0) / 1000))) return cancelledError();
    let p;
    try {
      p = payload(rp.size || 0);
    } catch (err) {
      return err;
    }
    call.write({ payload: p });
  }
  return echoStatusError(req.response_status);
}

// Reads a client stream one request at a time without destroying it (a
// `for await` loop would destroy the call on early exit, losing the status).
// next() resolves to the next request, or null after the client half-closed;
// it rejects when the call is cancelled or fails. The stream is paused while
// nobody asks, so HTTP/2 flow control applies.
function reader(call) {
  const queue = [];
  let ended = false;
  let failure = null;
  let waiting = null;
  const wake = () => {
    if (!waiting) return;
    const w = waiting;
    waiting = null;
    if (queue.length > 0) w.resolve(queue.shift());
    else if (failure) w.reject(failure);
    else if (ended) w.resolve(null);
    else waiting = w;
  };
  call.on('data', (req) => {
    queue.push(req);
    call.pause();
    wake();
  });
  call.on('end', () => {
    ended = true;
    wake();
  });
  call.on('error', (err) => {
    failure = failure || err;
    wake();
  });
  call.on('cancelled', () => {
    failure = failure || cancelledError();
    wake();
  });
  return () => new Promise((resolve, reject) => {
    waiting = { resolve, reject };
    if (queue.length === 0 && !ended && !failure) call.resume();
    wake();
  });
}

const testService = {
  EmptyCall(call, callback) {
    const trailer = echo(call);
    callback(null, {}, trailer);
  },

  UnaryCall(call, callback) {
    const trailer = echo(call);
    const err = echoStatusError(call.request.response_status);
    if (err) return callback(err, null, trailer);
    try {
      callback(null, { payload: payload(call.request.response_size || 0) }, trailer);
    } catch (e) {
      callback(e, null, trailer);
    }
  },

  CacheableUnaryCall(call, callback) {
    testService.UnaryCall(call, callback);
  },

  StreamingOutputCall(call) {
    const trailer = echo(call);
    streamOutput(call, call.request).then(
      (err) => endStream(call, err, trailer),
      (err) => endStream(call, err, trailer),
    );
  },

  StreamingInputCall(call, callback) {
    const trailer = echo(call);
    let sum = 0;
    call.on('data', (req) => {
      sum += req.payload && req.payload.body ? req.payload.body.length : 0;
    });
    call.on('end', () => callback(null, { aggregated_payload_size: sum }, trailer));
    call.on('error', () => {}); // cancellation: nothing to answer
  },

  FullDuplexCall(call) {
    // DEFECT read-all-first: nothing is sent before the client half-closes.
    if (flags.defect === 'read-all-first') return testService.HalfDuplexCall(call);
    const trailer = echo(call);
    const next = reader(call);
    (async () => {
      // Each request is answered as it arrives; the next one is read after.
      for (let req = await next(); req !== null; req = await next()) {
        const err = await streamOutput(call, req);
        if (err) return err;
      }
      return null;
    })().then(
      (err) => endStream(call, err, trailer),
      (err) => endStream(call, call.cancelled ? null : err, trailer),
    );
  },

  HalfDuplexCall(call) {
    const trailer = echo(call);
    const next = reader(call);
    (async () => {
      const buffered = [];
      for (let req = await next(); req !== null; req = await next()) buffered.push(req);
      for (const req of buffered) {
        const err = await streamOutput(call, req);
        if (err) return err;
      }
      return null;
    })().then(
      (err) => endStream(call, err, trailer),
      (err) => endStream(call, call.cancelled ? null : err, trailer),
    );
  },

  // UnimplementedCall is left out on purpose: grpc-js registers its default
  // handler for it, which answers UNIMPLEMENTED.
};

// ---------------------------------------------------------------------------
// ProbeService (its state: ../node/probe_state.js).

const state = probe.createProbeState({ running: 'RUNNING' });
const { enterGauge, begin } = state;

// The call's deadline as the handler sees it now, in milliseconds from now,
// rounded up (at least 1); 0 when it has none.
function deadlineMs(call) {
  const dl = call.getDeadline();
  const at = dl instanceof Date ? dl.getTime() : Number(dl);
  return probe.deadlineMs(at - Date.now());
}

// A probe_state.js refusal as a grpc-js status error.
function probeError(err) {
  if (err.kind === 'invalid') return statusError(grpc.status.INVALID_ARGUMENT, err.message);
  if (err.kind === 'timeout') return statusError(grpc.status.ABORTED, err.message);
  return cancelledError();
}

const HOLD_MODES = new Set(['HOLD_MODE_UNSPECIFIED', 'SLEEP', 'BLOCK_THREAD', 'SPIN', 'PANIC', 'UNTIL_CANCELLED']);

const probeService = {
  Info(call, callback) {
    callback(null, {
      implementation: 'grpc-js',
      version: grpcJsVersion,
      unsafe_holds_enabled: true,
      handler_threads: 1,
      threading: 'single Node.js event loop (one JavaScript thread runs every handler)',
    });
  },

  Rendezvous(call, callback) {
    const req = call.request;
    const conn = call.getPeer();
    state.rendezvous(req.group, req.scope, req.parties, req.timeout_ms, cancelOf(call), (err, arrival) => {
      if (err) callback(probeError(err));
      else callback(null, { arrival, connection_id: conn });
    });
  },

  // A plain (not async) function, so that PANIC throws synchronously into
  // grpc-js's handler invocation.
  Hold(call, callback) {
    const req = call.request;
    if (!HOLD_MODES.has(req.mode)) {
      return callback(statusError(grpc.status.INVALID_ARGUMENT, `unknown hold mode ${req.mode}`));
    }
    // (Unsafe holds are always enabled in this adapter, as the suite expects.)
    const gauge = enterGauge(req.scope);
    const conn = call.getPeer();
    const settle = begin(req.tag, conn, deadlineMs(call));
    const resp = { connection_id: conn, in_flight_at_entry: gauge.now };
    const ms = capMs(req.duration_ms);
    const done = () => {
      settle('FINISHED');
      gauge.leave();
      callback(null, resp);
    };
    const waitOrCancel = () => {
      sleepUnlessCancelled(call, ms).then((elapsed) => {
        if (elapsed) return done();
        settle('CANCELLED');
        gauge.leave();
        callback(cancelledError());
      });
    };
    switch (req.mode) {
      case 'HOLD_MODE_UNSPECIFIED':
        return done();
      case 'SLEEP':
        return waitOrCancel();
      case 'BLOCK_THREAD':
        blockThread(ms);
        return done();
      case 'SPIN':
        spin(ms);
        return done();
      case 'PANIC':
        try {
          // A real, unhandled exception thrown out of the handler: grpc-js
          // catches synchronous throws from handlers and ends the call with
          // UNKNOWN ("Unknown error"); the process keeps serving.
          throw new Error(`ProbeService.Hold PANIC requested (tag "${req.tag}")`);
        } finally {
          settle('PANICKED');
          gauge.leave();
        }
      case 'UNTIL_CANCELLED':
      default:
        return waitOrCancel();
    }
  },

  Observe(call, callback) {
    const req = call.request;
    state.observe(req.tag, req.wait_ms, cancelOf(call), (err, o) => {
      if (err) return callback(cancelledError());
      if (!o) return callback(null, { state: 'UNKNOWN', connection_id: '', elapsed_ms: 0, deadline_ms: 0 });
      return callback(null, {
        state: o.state, connection_id: o.conn, elapsed_ms: o.elapsedMs, deadline_ms: o.deadlineMs,
      });
    });
  },

  Gauge(call, callback) {
    const g = state.readGauge(call.request.scope, call.request.reset_max);
    callback(null, { in_flight: g.inFlight, max_in_flight: g.maxInFlight });
  },

  Pipe(call) {
    const conn = call.getPeer();
    let received = 0;
    let gauge = null;
    let settle = null;
    let closed = false;
    const close = (state) => {
      if (closed) return;
      closed = true;
      if (settle) settle(state);
      if (gauge) gauge.leave();
    };
    call.on('data', (req) => {
      if (received === 0) {
        gauge = enterGauge(req.scope);
        if (req.tag !== '') settle = begin(req.tag, conn, deadlineMs(call));
      }
      received += 1;
      call.write({ echo: req, received, connection_id: conn });
    });
    call.on('end', () => {
      // grpc-js quirk: when the client cancels (RST_STREAM), the handler's
      // stream first emits 'end', exactly like a half-close, and 'cancelled'
      // only follows in a process.nextTick of the same I/O callback. Decide
      // after those ticks (setImmediate) which of the two it was.
      setImmediate(() => {
        if (call.cancelled) {
          close('CANCELLED');
          return;
        }
        // The client half-closed, after the last echo was written.
        close('FINISHED');
        call.end();
      });
    });
    call.on('cancelled', () => close('CANCELLED'));
    call.on('error', () => close('CANCELLED'));
  },
};

// ---------------------------------------------------------------------------
// DEFECT global-lock: one process-wide mutex, a chain of promises. Every
// handler waits for the previous holder's call to end, then runs; it keeps the
// lock until its own call is over (unary / client-streaming: its callback;
// server-streaming / bidi: the stream finished; any: the call was cancelled).

let lockTail = Promise.resolve();

// Resolves to a release function once every earlier holder has released.
function acquireGlobalLock() {
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  const turn = lockTail.then(() => {
    let done = false;
    return () => {
      if (!done) {
        done = true;
        release();
      }
    };
  });
  lockTail = lockTail.then(() => released);
  return turn;
}

// The handler `func` of a method, run behind the global lock.
function locked(func, responseStream) {
  return (call, callback) => {
    acquireGlobalLock().then((release) => {
      // A call cancelled while it queued has nobody to answer.
      if (call.cancelled) return release();
      call.once('cancelled', release);
      if (responseStream) {
        call.once('finish', release);
        call.once('close', release);
      }
      const respond = responseStream ? undefined : (...args) => {
        release();
        callback(...args);
      };
      try {
        func(call, respond);
      } catch (err) {
        // grpc-js answers a handler's synchronous throw with UNKNOWN; it runs
        // after a lock wait here, out of grpc-js's reach, so answer the same.
        release();
        log(`handler threw: ${err.message}`);
        if (respond) respond(statusError(grpc.status.UNKNOWN, 'Unknown error'));
        else call.emit('error', statusError(grpc.status.UNKNOWN, 'Unknown error'));
      }
    });
  };
}

function withGlobalLock(service, impl) {
  const out = {};
  for (const [name, method] of Object.entries(service)) {
    const key = impl[method.originalName] ? method.originalName : name;
    if (impl[key]) out[key] = locked(impl[key].bind(impl), method.responseStream);
  }
  return out;
}

function parseArgs(argv) {
  const bad = (why) => {
    console.error(`server.js: ${why}\n${USAGE}`);
    process.exit(2);
  };
  const positive = (flag, value) => {
    const n = /^[0-9]+$/.test(value) ? Number(value) : 0;
    if (!(n >= 1 && n <= 2147483647)) bad(`${flag} needs a positive integer, got ${JSON.stringify(value)}`);
    return n;
  };
  if (argv.length < 1) bad('missing PORT');
  const port = /^[0-9]+$/.test(argv[0]) ? Number(argv[0]) : -1;
  if (!(port >= 0 && port <= 65535)) bad(`bad PORT ${JSON.stringify(argv[0])}`);
  flags.port = port;
  const seen = new Set();
  const rest = argv.slice(1);
  while (rest.length > 0) {
    const arg = rest.shift();
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    let value = eq >= 0 ? arg.slice(eq + 1) : null;
    if (seen.has(name)) bad(`${name} given twice`);
    seen.add(name);
    if (name === '--test-only' && value === null) {
      flags.testOnly = true;
      continue;
    }
    if (name !== '--defect' && name !== '--max-concurrent-streams') bad(`unknown argument ${JSON.stringify(arg)}`);
    if (value === null) {
      if (rest.length === 0) bad(`${name} needs a value`);
      value = rest.shift();
    }
    if (name === '--defect') {
      if (!DEFECTS.includes(value)) bad(`unknown defect ${JSON.stringify(value)} (this adapter has: ${DEFECTS.join(', ')})`);
      flags.defect = value;
    } else {
      flags.maxConcurrentStreams = positive(name, value);
    }
  }
}

function describeFlags() {
  const parts = [];
  if (flags.defect) parts.push(`DEFECT ${flags.defect}`);
  if (flags.testOnly) parts.push('TestService only');
  if (flags.maxConcurrentStreams !== null) parts.push(`max_concurrent_streams ${flags.maxConcurrentStreams}`);
  return parts.join(', ');
}

function main() {
  parseArgs(process.argv.slice(2));
  const port = flags.port;
  const variant = describeFlags();
  if (variant) {
    const info = probeService.Info;
    probeService.Info = (call, callback) => info(call, (err, value) => callback(err, value && {
      ...value, threading: `${value.threading} [${variant}]` }));
  }
  const proto = loadProtos();
  const options = {};
  if (flags.maxConcurrentStreams !== null) options['grpc.max_concurrent_streams'] = flags.maxConcurrentStreams;
  const server = new grpc.Server(options);
  const services = [[proto.grpc.testing.TestService.service, testService]];
  if (!flags.testOnly) services.push([proto.conformance.v1.ProbeService.service, probeService]);
  for (const [service, impl] of services) {
    server.addService(service, flags.defect === 'global-lock' ? withGlobalLock(service, impl) : impl);
  }

  let stopping = false;
  const stop = (sig) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: graceful stop (grace ${GRACE_MS} ms)`);
    const force = setTimeout(() => {
      log('grace period over: stopping in-flight RPCs');
      server.forceShutdown();
      process.exit(0);
    }, GRACE_MS);
    server.tryShutdown((err) => {
      if (err) log('tryShutdown:', err.message);
      clearTimeout(force);
      log('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
    if (err) {
      log('bind:', err.message);
      process.exit(1);
    }
    log(`@grpc/grpc-js ${grpcJsVersion} listening on 127.0.0.1:${bound} (${variant || 'faithful default'})`);
  });
}

main();
