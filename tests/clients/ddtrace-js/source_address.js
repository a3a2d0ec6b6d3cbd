// Test-only preload (node --require): every TCP connection this process opens leaves from
// PROFKIT_IT_SOURCE_ADDRESS, so a test on one machine can play a pod at another loopback address
// (tests/integration/test_kubernetes.py). dd-trace itself is unchanged.
'use strict';
const net = require('net');

const source = process.env.PROFKIT_IT_SOURCE_ADDRESS;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  // net.createConnection hands over its normalized [options, callback] array.
  const options = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (source && options && typeof options === 'object' && !options.path) {
    options.localAddress = source;
  }
  return connect.apply(this, args);
};
