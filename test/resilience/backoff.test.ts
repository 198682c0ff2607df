import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { backoffDelays, cappedBackoff, constantBackoff, equalJitterBackoff, exponentialBackoff, fullJitterBackoff, noBackoff } from '../../src/resilience/backoff.js';

const first = (it: Iterator<number>, n: number): number[] => Array.from({ length: n }, () => it.next().value as number);

test('constant and exponential policies, capped', () => {
  assert.deepEqual(first(backoffDelays(constantBackoff(7)), 3), [7, 7, 7]);
  assert.equal(noBackoff(5), 0);
  assert.deepEqual(first(backoffDelays(exponentialBackoff(10, 100)), 6), [10, 20, 40, 80, 100, 100]);
  assert.equal(exponentialBackoff(10, 100)(5000), 100, 'huge attempt numbers stay at the cap');
  assert.deepEqual(first(backoffDelays(cappedBackoff(exponentialBackoff(10, 1000), 30)), 4), [10, 20, 30, 30]);
});

test('full jitter is uniform below the exponential curve', () => {
  assert.equal(fullJitterBackoff(10, 1000, { random: () => 0 })(3), 0);
  assert.equal(fullJitterBackoff(10, 1000, { random: () => 0.5 })(3), 20);
  assert.equal(fullJitterBackoff(10, 50, { random: () => 0.5 })(10), 25, 'jitters below the cap');
  const real = fullJitterBackoff(10, 1000);
  for (let i = 0; i < 200; i++) {
    const d = real(4);
    assert.ok(d >= 0 && d < 80, String(d));
  }
});

test('equal jitter is Finagle equalJittered: base first, then [h, 2h) with h doubling, capped', () => {
  const low = equalJitterBackoff(5000, 300_000, { random: () => 0 });
  const high = equalJitterBackoff(5000, 300_000, { random: () => 0.999999 });
  assert.equal(low(1), 5000);
  assert.equal(high(1), 5000, 'the first delay is not jittered');
  assert.deepEqual([2, 3, 4].map(low), [5000, 10_000, 20_000]);
  assert.deepEqual(
    [2, 3, 4].map((n) => Math.round(high(n))),
    [10_000, 20_000, 40_000],
  );
  assert.equal(high(8), 300_000, 'capped');
  assert.equal(low(2000), 300_000, 'no overflow at large attempts');
  assert.ok(Number.isFinite(high(2000)));
});

test('bad parameters are typed errors', () => {
  assert.throws(() => constantBackoff(-1), InvalidArgumentError);
  assert.throws(() => exponentialBackoff(10, 5), /cap/);
  assert.throws(() => equalJitterBackoff(Number.NaN, 5), InvalidArgumentError);
  assert.throws(() => cappedBackoff(noBackoff, Infinity), InvalidArgumentError);
});
