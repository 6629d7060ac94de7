'use strict';
// grpc-js client adapter: speaks the client-under-test protocol
// (proto/conformance/v1/client.proto) on stdin/stdout and carries out each
// instruction with @grpc/grpc-js: one grpc.Channel per instruction, a stub
// of each service made on it, an async task per task (one event loop).
//
// Usage: node adapter.js [--defect new-channel-per-call|global-lock|
//                         send-all-then-receive|receive-after-half-close]
// Logs go to stderr. A malformed message on stdin: a line on stderr, exit 1.
// stdin closed: exit 0.

const { grpcJsVersion } = require('./modules.js');
const { FrameReader, Malformed, writeAdapterMessage } = require('./framing.js');
const { DEFECTS } = require('./channel.js');
const { runCalls } = require('./calls.js');
const { runExchange } = require('./exchange.js');

const NAME = 'grpc-js-client';
const PROTOCOL_VERSION = 1;

function log(...args) {
  console.error(`${NAME}:`, ...args);
}

function parseArgs(argv) {
  if (argv.length === 0) return '';
  if (argv.length === 2 && argv[0] === '--defect' && DEFECTS.includes(argv[1])) return argv[1];
  log(`usage: node adapter.js [--defect ${DEFECTS.join('|')}]`);
  process.exit(2);
}

function kindError(instruction) {
  if (instruction.work !== 'calls' && instruction.work !== 'exchange') {
    return 'instruction of a kind this adapter does not know (no calls, no exchange)';
  }
  if (instruction.work === 'calls') {
    for (const call of instruction.calls.calls) {
      if (!call.rpc) return `call ${JSON.stringify(call.caller)}: no rpc set (an rpc kind this adapter does not know?)`;
    }
  }
  return '';
}

async function answer(message, defect) {
  if (message.kind === 'hello') {
    if (message.hello.protocol_version !== PROTOCOL_VERSION) {
      log(`harness speaks protocol version ${message.hello.protocol_version}, this adapter ${PROTOCOL_VERSION}`);
    }
    return {
      hello: {
        protocol_version: PROTOCOL_VERSION, implementation: 'grpc-js', version: grpcJsVersion,
        api: 'grpc.Channel shared by each service\'s client (channelOverride), one async task per task',
        defect,
      },
    };
  }
  if (message.kind === 'instruction') {
    const instruction = message.instruction;
    const error = kindError(instruction);
    if (error) return { result: { id: instruction.id, adapter_error: error } };
    if (instruction.work === 'calls') return { result: await runCalls(instruction, defect) };
    return { result: await runExchange(instruction, defect) };
  }
  throw new Malformed('HarnessMessage with no known kind');
}

async function main() {
  const defect = parseArgs(process.argv.slice(2));
  const reader = new FrameReader(process.stdin);
  for (;;) {
    let message;
    let reply;
    try {
      message = await reader.next();
      if (message === null) return 0;
      reply = await answer(message, defect);
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      log(`malformed message on stdin: ${e.message}`);
      return 1;
    }
    await writeAdapterMessage(process.stdout, reply);
  }
}

main().then((code) => process.exit(code), (err) => {
  log('internal error:', err && err.stack ? err.stack : err);
  process.exit(1);
});
