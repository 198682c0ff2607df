import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { RetryBudget, WindowedCounter } from '../../src/resilience/retry-budget.js';
import { FakeClock } from './fake-service.js';

test('a fresh budget holds the reserve: minRetriesPerSec × ttl', () => {
  const clock = new FakeClock();
  const b = new RetryBudget({ now: clock.now });
  assert.equal(b.balance, 100, '10/s over 10 s');
  let n = 0;
  while (b.tryWithdraw()) n++;
  assert.equal(n, 100);
  assert.equal(b.tryWithdraw(), false);
});

test('deposits of 20% buy one retry per five requests, and expire after ttl', () => {
  const clock = new FakeClock();
  const b = new RetryBudget({ minRetriesPerSec: 0, now: clock.now });
  assert.equal(b.tryWithdraw(), false, 'no reserve, no deposits');
  for (let i = 0; i < 4; i++) b.deposit();
  assert.equal(b.tryWithdraw(), false, '0.8 of a token is not a retry');
  b.deposit();
  assert.equal(b.tryWithdraw(), true);
  assert.equal(b.tryWithdraw(), false);
  for (let i = 0; i < 50; i++) b.deposit();
  assert.equal(b.balance, 10);
  clock.advance(10_001);
  assert.equal(b.balance, 0, 'deposits are gone after the ttl');
});

test('withdrawals expire too: the reserve comes back after ttl', () => {
  const clock = new FakeClock();
  const b = new RetryBudget({ ttl: 1000, minRetriesPerSec: 5, percentCanRetry: 0, now: clock.now });
  assert.equal(b.balance, 5);
  while (b.tryWithdraw());
  clock.advance(500);
  assert.equal(b.balance, 0);
  clock.advance(501);
  assert.equal(b.balance, 5);
});

test('100% failing traffic: retries stay within 20% of requests + the floor', () => {
  // 60 simulated seconds at 50 requests/s, every request failing, and a client that would retry
  // forever: only the budget stops it.
  const clock = new FakeClock();
  const b = new RetryBudget({ now: clock.now });
  const seconds = 60;
  const rps = 50;
  const perSecond: number[] = [];
  let requests = 0;
  let retries = 0;
  for (let s = 0; s < seconds; s++) {
    let thisSecond = 0;
    for (let i = 0; i < rps; i++) {
      clock.advance(1000 / rps);
      requests++;
      b.deposit();
      while (b.tryWithdraw()) thisSecond++;
    }
    perSecond.push(thisSecond);
    retries += thisSecond;
  }
  // Over any ttl window retries ≤ reserve + 0.2 × requests in it; 60 s span 6 windows (+1 for
  // the slice-granular edges).
  const bound = 0.2 * requests + 10 * (seconds + 10);
  assert.ok(retries <= bound, `${retries} retries > bound ${bound}`);
  // The steady state is 20% of 50/s + 10/s = 20 retries/s; measure the last 30 s.
  const tail = perSecond.slice(30).reduce((a, b) => a + b, 0) / 30;
  assert.ok(tail >= 17 && tail <= 23, `steady state ${tail} retries/s, expected about 20`);
  assert.ok(retries / requests < 0.5, `retries are ${((100 * retries) / requests).toFixed(0)}% of requests`);
});

test('low traffic can still retry thanks to the floor', () => {
  const clock = new FakeClock();
  const b = new RetryBudget({ now: clock.now });
  let retries = 0;
  for (let s = 0; s < 30; s++) {
    clock.advance(1000);
    b.deposit(); // one request a second
    while (b.tryWithdraw()) retries++;
  }
  // About 10/s + 0.2/s sustained, plus the initial reserve.
  assert.ok(retries >= 10 * 30 && retries <= 10 * 40 + 6, String(retries));
});

test('windowed counter sums over its window', () => {
  const clock = new FakeClock();
  const w = new WindowedCounter(1000, 10, clock.now);
  w.add(1);
  clock.advance(500);
  w.add(2);
  assert.equal(w.sum, 3);
  clock.advance(600);
  assert.equal(w.sum, 2, 'the first add expired');
  clock.advance(5000);
  assert.equal(w.sum, 0);
});

test('bad options are typed errors', () => {
  assert.throws(() => new RetryBudget({ ttl: 0 }), InvalidArgumentError);
  assert.throws(() => new RetryBudget({ minRetriesPerSec: -1 }), InvalidArgumentError);
  assert.throws(() => new RetryBudget({ percentCanRetry: 1001 }), InvalidArgumentError);
  assert.throws(() => new WindowedCounter(1000, 0, Date.now), InvalidArgumentError);
});
