import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { formatAddress, parseDestination } from '../../src/discovery/uri.js';

test('parses static server sets', () => {
  assert.deepEqual(parseDestination('tcp://a.example:1,10.0.0.2:9090, [::1]:80').addresses, [
    { host: 'a.example', port: 1 },
    { host: '10.0.0.2', port: 9090 },
    { host: '::1', port: 80 },
  ]);
  assert.deepEqual(parseDestination('localhost:9090').addresses, [{ host: 'localhost', port: 9090 }]);
  assert.equal(formatAddress({ host: '::1', port: 80 }), '[::1]:80');
});

test('rejects bad destinations with a clear error', () => {
  for (const bad of ['', 'tcp://', 'tcp://host', 'tcp://host:0', 'tcp://host:65536', 'host:port', 'zk2://x:1', 'tcp://a:1,b']) {
    assert.throws(() => parseDestination(bad), InvalidArgumentError, bad);
  }
  assert.throws(() => parseDestination('zk2://x:1'), /unsupported destination scheme 'zk2:\/\/'/);
});
