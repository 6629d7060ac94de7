'use strict';
// Where the grpc-js client adapter takes its modules from: the grpc-js server
// target's node_modules (targets/grpc-js, installed by its npm ci), so that
// client and server run the same pinned grpc-js; protobufjs (for the
// protocol's own messages) is the one @grpc/proto-loader depends on.

const path = require('path');

const NODE_MODULES = path.resolve(__dirname, '..', '..', 'grpc-js', 'node_modules');

function load(name, from) {
  return require(require.resolve(name, { paths: [from || NODE_MODULES] }));
}

const grpc = load('@grpc/grpc-js');
const protoLoader = load('@grpc/proto-loader');
const protobuf = load('protobufjs', path.dirname(require.resolve('@grpc/proto-loader', { paths: [NODE_MODULES] })));
const grpcJsVersion = load('@grpc/grpc-js/package.json').version;

module.exports = { grpc, protoLoader, protobuf, grpcJsVersion };
