'use strict';
// The instruction's channel: one grpc.Channel (plaintext h2c to the loopback
// reference server) and a stub of each service made on it (channelOverride),
// the services loaded from ../../../proto by @grpc/proto-loader; the defects'
// global lock.

const path = require('path');
const { grpc, protoLoader } = require('./modules.js');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', '..', 'proto');
const DEFECTS = ['new-channel-per-call', 'global-lock', 'send-all-then-receive', 'receive-after-half-close'];
// grpc-js shares subchannels (TCP connections) between channels of the same
// target and options through its global subchannel pool: a
// new-channel-per-call channel takes a local pool, or the "fresh" channels
// would all ride one connection and the defect would be no defect.
const OWN_CONNECTION = { 'grpc.use_local_subchannel_pool': 1 };

const services = grpc.loadPackageDefinition(protoLoader.loadSync(
  ['grpc/testing/test.proto', 'conformance/v1/probe.proto', 'conformance/v1/client.proto'],
  { includeDirs: [PROTO_ROOT], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true },
));
const creds = grpc.credentials.createInsecure();

function openChannel(server, options) {
  const channel = new grpc.Channel(server, creds, options || {});
  const on = { channelOverride: channel };
  return {
    observer: new services.conformance.v1.ClientObserver(server, creds, on),
    probe: new services.conformance.v1.ProbeService(server, creds, on),
    test: new services.grpc.testing.TestService(server, creds, on),
    close: () => channel.close(),
  };
}

// One process-wide mutex (--defect global-lock): acquire(deadline) resolves
// to its release, or to null when the deadline passes first.
const waiting = [];
let locked = false;

function acquire(deadline) {
  if (!locked) {
    locked = true;
    return Promise.resolve(release);
  }
  return new Promise((resolve) => {
    const entry = { resolve, timer: null };
    entry.timer = setTimeout(() => {
      waiting.splice(waiting.indexOf(entry), 1);
      resolve(null);
    }, Math.max(0, deadline.getTime() - Date.now()));
    waiting.push(entry);
  });
}

function release() {
  const next = waiting.shift();
  if (next) {
    clearTimeout(next.timer);
    next.resolve(release);
  } else {
    locked = false;
  }
}

// lockRPC(defect, deadline): the release of the global lock under
// global-lock, a no-op release otherwise; null when the deadline passed.
function lockRPC(defect, deadline) {
  if (defect !== 'global-lock') return Promise.resolve(() => {});
  return acquire(deadline);
}

// A promise of a call's final status ({code, details}); the 'error' event
// (the same status as an Error) is taken so that it is not thrown.
function statusOf(call) {
  call.on('error', () => {});
  return new Promise((resolve) => call.on('status', resolve));
}

module.exports = { grpc, DEFECTS, OWN_CONNECTION, openChannel, lockRPC, statusOf };
