// The protocol's classifier at work end to end: a server at its concurrency limit answers
// "Overloaded" at once (the request did not run); Thrift's classifier calls that `retryable`, so
// the client's retries role sends the call to another node even though no method is declared
// idempotent, and the balancer's retry avoids the node that refused it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Thrift, isOverloadRejection, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { EchoService, type EchoHandler } from '../fixtures/echo-service.js';

const ran = { full: 0, free: 0 };
let full: ThriftServer;
let free: ThriftServer;

const handlerFor = (name: 'full' | 'free'): EchoHandler => ({
  echo(id, delayMs, payload) {
    ran[name]++;
    return new Promise((resolve) => setTimeout(resolve, delayMs, { id, payload: `${payload}@${name}` }));
  },
});

before(async () => {
  full = await Thrift.serve(EchoService, handlerFor('full'), { maxConcurrent: 1, onError: false });
  free = await Thrift.serve(EchoService, handlerFor('free'), { onError: false });
});
after(async () => {
  await full.close(100);
  await free.close(100);
});

test('an overload answer is retried on another node (not idempotent, within the budget)', async () => {
  // Only the full server at first: the second concurrent call is refused, and with retries off
  // the caller sees the typed rejection.
  const direct = Thrift.newBuilder(EchoService).withRetries(false).build(`tcp://127.0.0.1:${full.port}`);
  try {
    const [a, b] = await Promise.allSettled([direct.echo(1n, 150, 'a'), direct.echo(2n, 0, 'b')]);
    assert.equal(a.status, 'fulfilled');
    assert.equal(b.status, 'rejected');
    assert.ok(isOverloadRejection((b as PromiseRejectedResult).reason), String((b as PromiseRejectedResult).reason));
  } finally {
    await direct.$close();
  }
  ran.full = 0;
  ran.free = 0;
  // Both servers, p2c: whenever a call lands on the full one while it is busy, it is refused and
  // retried on the free one; every call succeeds.
  const client = Thrift.newBuilder(EchoService).withLoadBalancer('round-robin').build(`tcp://127.0.0.1:${full.port},127.0.0.1:${free.port}`);
  try {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => client.echo(BigInt(i), 50, `c${i}`)));
    assert.equal(results.length, 20);
    for (const [i, r] of results.entries()) assert.equal(r.id, BigInt(i));
    assert.ok(ran.full <= 2, `the full server ran at most its limit at a time: ${ran.full}`);
    assert.equal(ran.full + ran.free, 20, 'each call ran exactly once');
    const snap = client.$stats.snapshot();
    const retries = Object.values(snap.scopes).find((s) => s.gauges['retries'] !== undefined)?.gauges['retries'] ?? 0;
    assert.ok(retries >= 8, `refused calls were retried: ${retries}`);
  } finally {
    await client.$close();
  }
});
