import assert from 'node:assert/strict';
import { test } from 'node:test';
import { performance, turnNow } from '../../src/core/clock.js';

test('turnNow: one clock reading per synchronous run, a fresh one after it', async () => {
  const a = turnNow();
  const spin = performance.now() + 2;
  while (performance.now() < spin) {
    // 2 ms of synchronous work: still the same run
  }
  assert.equal(turnNow(), a, 'the same run shares the reading');
  await new Promise((r) => setTimeout(r, 5));
  const b = turnNow();
  assert.ok(b >= a + 5, `a later run reads the clock again: ${b - a} ms later`);
  const until = performance.now() + 1;
  while (performance.now() < until) {
    // 1 ms more in the same run
  }
  await Promise.resolve(); // the run's microtasks end it, even without a new macrotask
  assert.ok(turnNow() >= b + 1, 'renewed once the run ended');
});
