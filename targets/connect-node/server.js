// connect-node target adapter: grpc.testing.TestService and conformance.v1.ProbeService
// on @connectrpc/connect-node (gRPC protocol only) over Node.js's own http2
// module (http2.createServer, plaintext HTTP/2 with prior knowledge), with code
// generated from ../../proto by protoc + @bufbuild/protoc-gen-es into gen/.
//
// Usage: node server.js PORT [--test-only] [--max-concurrent-streams N]
// (listens on 127.0.0.1:PORT; logs to stderr).
//   --test-only                 ProbeService is not registered
//   --max-concurrent-streams N  http2 setting maxConcurrentStreams = N
// Anything else: the usage on stderr, exit 2.
//
// Threading: one Node.js event loop runs every handler (async functions and
// async generators); BLOCK_THREAD (Atomics.wait) and SPIN really stall it.
// Unlike grpc-js, neither the HTTP/2 settings nor the windows are touched:
// Node's http2 defaults apply.
//
// SIGTERM/SIGINT: server.close() and session.close() on every open session
// (GOAWAY: no new streams, in-flight ones finish), bounded to 5 s, then the
// sessions are destroyed, then exit 0.
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { Code, ConnectError, createContextKey, createContextValues } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { TestService } from './gen/grpc/testing/test_pb.js';
import { PayloadType } from './gen/grpc/testing/messages_pb.js';
import { ProbeService, HoldMode, HandlerState } from './gen/conformance/v1/probe_pb.js';
// The ProbeService state and hold primitives shared with grpc-js (CommonJS).
import probe from '../node/probe_state.js';

const { capMs, blockThread, spin } = probe;

const CONNECT_VERSION = JSON.parse(readFileSync(new URL('./node_modules/@connectrpc/connect-node/package.json', import.meta.url), 'utf8')).version;
const GRACE_MS = 5000;
const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';
const USAGE = 'usage: node server.js PORT [--test-only] [--max-concurrent-streams N]';
const kPeer = createContextKey('');

const log = (...args) => console.error('connect-node-server:', ...args);

// ---------------------------------------------------------------------------
// Metadata echo (TestService).

function echo(ctx) {
  const initial = ctx.requestHeader.get(ECHO_INITIAL);
  if (initial !== null) ctx.responseHeader.set(ECHO_INITIAL, initial);
  const trailing = ctx.requestHeader.get(ECHO_TRAILING);
  // The -bin value as it came (base64): connect-es leaves it encoded.
  if (trailing !== null) ctx.responseTrailer.set(ECHO_TRAILING, trailing);
}

// An error with the trailing echo in its metadata (sent as trailers).
function error(ctx, message, code) {
  const md = new Headers();
  const trailing = ctx.requestHeader.get(ECHO_TRAILING);
  if (trailing !== null) md.set(ECHO_TRAILING, trailing);
  return new ConnectError(message, code, md);
}

function echoStatusError(ctx, s) {
  if (s && s.code) return error(ctx, s.message || '', s.code);
  return null;
}

function payload(ctx, size) {
  if (size < 0) throw error(ctx, `negative payload size ${size}`, Code.InvalidArgument);
  return { type: PayloadType.COMPRESSABLE, body: new Uint8Array(size) };
}

// The call's signal as probe_state.js takes a cancellation.
function cancelOf(signal) {
  return {
    aborted: () => signal.aborted,
    on: (fn) => signal.addEventListener('abort', fn, { once: true }),
    off: (fn) => signal.removeEventListener('abort', fn),
  };
}

// Resolves true after ms, false as soon as the call's signal aborts.
function sleepUnlessAborted(signal, ms) {
  return probe.sleepUnlessCancelled(cancelOf(signal), ms);
}

// StreamingOutputCall behaviour for one request: per entry, wait interval_us,
// send size zero bytes; then the requested status.
async function* streamOutput(ctx, req) {
  for (const rp of req.responseParameters) {
    if (!(await sleepUnlessAborted(ctx.signal, rp.intervalUs / 1000))) {
      throw new ConnectError('call cancelled', Code.Canceled);
    }
    yield { payload: payload(ctx, rp.size) };
  }
  const err = echoStatusError(ctx, req.responseStatus);
  if (err) throw err;
}

const testService = {
  async emptyCall(req, ctx) {
    echo(ctx);
    return {};
  },

  async unaryCall(req, ctx) {
    echo(ctx);
    const err = echoStatusError(ctx, req.responseStatus);
    if (err) throw err;
    return { payload: payload(ctx, req.responseSize) };
  },

  async cacheableUnaryCall(req, ctx) {
    return testService.unaryCall(req, ctx);
  },

  async *streamingOutputCall(req, ctx) {
    echo(ctx);
    yield* streamOutput(ctx, req);
  },

  async streamingInputCall(reqs, ctx) {
    echo(ctx);
    let sum = 0;
    for await (const req of reqs) sum += req.payload ? req.payload.body.length : 0;
    return { aggregatedPayloadSize: sum };
  },

  async *fullDuplexCall(reqs, ctx) {
    echo(ctx);
    for await (const req of reqs) yield* streamOutput(ctx, req); // answered as it arrives
  },

  async *halfDuplexCall(reqs, ctx) {
    echo(ctx);
    const buffered = [];
    for await (const req of reqs) buffered.push(req); // until the client half-closes
    for (const req of buffered) yield* streamOutput(ctx, req);
  },

  // unimplementedCall is left out: connect answers Unimplemented for it.
};

// ---------------------------------------------------------------------------
// ProbeService (its state: ../node/probe_state.js).

const state = probe.createProbeState({ running: HandlerState.RUNNING });
const { enterGauge, begin } = state;
let variant = '';

function deadlineMs(ctx) {
  const t = ctx.timeoutMs();
  return probe.deadlineMs(t === undefined ? NaN : t);
}

// A probe_state.js refusal as a ConnectError.
function probeError(err) {
  if (err.kind === 'invalid') return new ConnectError(err.message, Code.InvalidArgument);
  if (err.kind === 'timeout') return new ConnectError(err.message, Code.Aborted);
  return new ConnectError('call cancelled', Code.Canceled);
}

const probeService = {
  async info() {
    return {
      implementation: 'connect-node',
      version: CONNECT_VERSION,
      unsafeHoldsEnabled: true,
      handlerThreads: 1,
      threading: 'single Node.js event loop (one JavaScript thread runs every handler)'
        + (variant ? ` [${variant}]` : ''),
    };
  },

  rendezvous(req, ctx) {
    const conn = ctx.values.get(kPeer);
    return new Promise((resolve, reject) => {
      state.rendezvous(req.group, req.scope, req.parties, req.timeoutMs, cancelOf(ctx.signal), (err, arrival) => {
        if (err) reject(probeError(err));
        else resolve({ arrival, connectionId: conn });
      });
    });
  },

  async hold(req, ctx) {
    if (HoldMode[req.mode] === undefined) {
      throw new ConnectError(`unknown hold mode ${req.mode}`, Code.InvalidArgument);
    }
    // (Unsafe holds are always enabled in this adapter, as the suite expects.)
    const gauge = enterGauge(req.scope);
    const conn = ctx.values.get(kPeer);
    const settle = begin(req.tag, conn, deadlineMs(ctx));
    const resp = { connectionId: conn, inFlightAtEntry: gauge.now };
    const ms = capMs(req.durationMs);
    try {
      switch (req.mode) {
        case HoldMode.SLEEP:
        case HoldMode.UNTIL_CANCELLED:
          if (!(await sleepUnlessAborted(ctx.signal, ms))) {
            settle(HandlerState.CANCELLED);
            throw new ConnectError('call cancelled', Code.Canceled);
          }
          break;
        case HoldMode.BLOCK_THREAD:
          blockThread(ms);
          break;
        case HoldMode.SPIN:
          spin(ms);
          break;
        case HoldMode.PANIC:
          settle(HandlerState.PANICKED);
          // A real, unhandled exception out of the handler (not a
          // ConnectError): connect turns it into an error status.
          throw new Error(`ProbeService.Hold PANIC requested (tag "${req.tag}")`);
        default:
          break;
      }
      settle(HandlerState.FINISHED);
      return resp;
    } finally {
      gauge.leave();
    }
  },

  observe(req, ctx) {
    return new Promise((resolve, reject) => {
      state.observe(req.tag, req.waitMs, cancelOf(ctx.signal), (err, o) => {
        if (err) return reject(new ConnectError('call cancelled', Code.Canceled));
        if (!o) return resolve({ state: HandlerState.UNKNOWN });
        return resolve({
          state: o.state, connectionId: o.conn, elapsedMs: o.elapsedMs, deadlineMs: o.deadlineMs,
        });
      });
    });
  },

  async gauge(req) {
    return state.readGauge(req.scope, req.resetMax);
  },

  async *pipe(reqs, ctx) {
    const conn = ctx.values.get(kPeer);
    let received = 0n;
    let gauge = null;
    let settle = null;
    let finished = false;
    try {
      for await (const req of reqs) {
        if (received === 0n) {
          gauge = enterGauge(req.scope);
          if (req.tag !== '') settle = begin(req.tag, conn, deadlineMs(ctx));
        }
        received += 1n;
        yield { echo: req, received, connectionId: conn };
      }
      finished = !ctx.signal.aborted;
    } finally {
      // The client half-closed after the last echo (FINISHED), or the call
      // was cancelled, reset or broken (CANCELLED).
      if (settle) settle(finished ? HandlerState.FINISHED : HandlerState.CANCELLED);
      if (gauge) gauge.leave();
    }
  },
};

// ---------------------------------------------------------------------------

function parseArgs(argv) {
  const bad = (why) => {
    console.error(`server.js: ${why}\n${USAGE}`);
    process.exit(2);
  };
  if (argv.length < 1) bad('missing PORT');
  const port = /^[0-9]+$/.test(argv[0]) ? Number(argv[0]) : -1;
  if (!(port >= 0 && port <= 65535)) bad(`bad PORT ${JSON.stringify(argv[0])}`);
  const flags = { port, testOnly: false, maxConcurrentStreams: null };
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === '--test-only' && !flags.testOnly) {
      flags.testOnly = true;
    } else if (argv[i] === '--max-concurrent-streams' && flags.maxConcurrentStreams === null) {
      const v = argv[++i];
      const n = /^[0-9]+$/.test(v || '') ? Number(v) : 0;
      if (!(n >= 1 && n <= 2147483647)) bad('--max-concurrent-streams needs a positive integer');
      flags.maxConcurrentStreams = n;
    } else {
      bad(`unknown argument ${JSON.stringify(argv[i])}`);
    }
  }
  return flags;
}

function main() {
  const flags = parseArgs(process.argv.slice(2));
  const parts = [];
  if (flags.testOnly) parts.push('TestService only');
  if (flags.maxConcurrentStreams !== null) parts.push(`max_concurrent_streams ${flags.maxConcurrentStreams}`);
  variant = parts.join(', ');
  const handler = connectNodeAdapter({
    grpc: true,
    grpcWeb: false,
    connect: false,
    routes(router) {
      router.service(TestService, testService);
      if (!flags.testOnly) router.service(ProbeService, probeService);
    },
    contextValues(req) {
      const s = req.socket;
      return createContextValues().set(kPeer, s ? `${s.remoteAddress}:${s.remotePort}` : '');
    },
  });
  const options = {};
  if (flags.maxConcurrentStreams !== null) options.settings = { maxConcurrentStreams: flags.maxConcurrentStreams };
  const server = http2.createServer(options, handler);
  const sessions = new Set();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  let stopping = false;
  const stop = (sig) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: graceful stop (grace ${GRACE_MS} ms)`);
    const timer = setTimeout(() => {
      log('grace period over: closing in-flight RPCs');
      for (const s of sessions) s.destroy();
    }, GRACE_MS);
    server.close(() => {
      clearTimeout(timer);
      log('stopped');
      process.exit(0);
    });
    for (const s of sessions) s.close();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  server.on('error', (err) => {
    log(`cannot listen on 127.0.0.1:${flags.port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(flags.port, '127.0.0.1', () => {
    log(`@connectrpc/connect-node ${CONNECT_VERSION} (Node ${process.version} http2) listening on 127.0.0.1:${server.address().port} (${variant || 'faithful default'})`);
  });
}

main();
