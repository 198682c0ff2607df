// The shared waiter queue, as pure logic: one timer for many waiters, expiry order, O(1)
// cancellation, and the admission point never handing out a waiter whose time is up.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CancelledError, ClosedError, OverloadedError, TimeoutError, type ScalesError } from '../../src/core/errors.js';
import { CallContext, type ReplyHandler } from '../../src/core/service.js';
import { WaiterQueue, type Waiter } from '../../src/pool/waiters.js';
import { sleep } from './session-factory.js';

interface Rec extends ReplyHandler<string> {
  errors: unknown[];
}
const rec = (): Rec => {
  const errors: unknown[] = [];
  return { errors, onReply: () => assert.fail('a waiter gets no reply from the queue'), onError: (e) => errors.push(e) };
};
const ctx = (timeoutMs?: number): CallContext => CallContext.expiring('m', timeoutMs, undefined, undefined);
const expiredError = (w: Waiter<unknown, unknown>): ScalesError => (w.byDeadline ? new TimeoutError('deadline', { unwritten: true }) : new OverloadedError('waitTimeout'));

/** Spins the CPU for `ms` so no timer can run meanwhile (a busy event loop). */
function block(ms: number): void {
  const stop = performance.now() + ms;
  while (performance.now() < stop);
}

/** Counts setTimeout calls made while `fn` runs. */
function countTimers(fn: () => void): number {
  const real = globalThis.setTimeout;
  let n = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    n++;
    return real(...args);
  }) as typeof setTimeout;
  try {
    fn();
  } finally {
    globalThis.setTimeout = real;
  }
  return n;
}

describe('WaiterQueue', () => {
  test('one timer for many waiters sharing a timeout; they expire together, in order', async () => {
    const q = new WaiterQueue<string, string>(30, expiredError);
    const handlers = Array.from({ length: 200 }, rec);
    const timers = countTimers(() => {
      for (const [i, h] of handlers.entries()) q.add(`r${i}`, ctx(), h);
    });
    assert.equal(timers, 1, 'setTimeout calls for 200 waiters');
    assert.equal(q.timersArmed, 1);
    assert.equal(q.size, 200);
    await sleep(60);
    assert.equal(q.size, 0);
    for (const h of handlers) assert.ok(h.errors.length === 1 && h.errors[0] instanceof OverloadedError);
    assert.ok(q.timersArmed <= 3, `timers armed in all: ${q.timersArmed}`);
  });

  test('deadlines out of arrival order: each waiter expires at its own deadline, TimeoutError, context cancelled', async () => {
    const q = new WaiterQueue<string, string>(Infinity, expiredError);
    const order: number[] = [];
    const ctxs = [80, 20, 50, Infinity].map((t) => ctx(t === Infinity ? undefined : t));
    for (const [i, c] of ctxs.entries()) q.add(`r${i}`, c, { onReply: () => assert.fail(), onError: () => order.push(i) });
    // Re-armed only when a new earliest arrives (80, then 20): never once per waiter.
    assert.equal(q.timersArmed, 2);
    await sleep(120);
    assert.deepEqual(order, [1, 2, 0], 'by deadline, not by arrival; no deadline: still waiting');
    assert.ok(ctxs[1]!.cancelled instanceof TimeoutError && ctxs[1]!.cancelled.unwritten);
    assert.equal(q.size, 1);
    assert.equal(q.take()!.req, 'r3');
  });

  test('cancel takes a waiter out at once (from the middle too); FIFO order of the rest is kept', () => {
    const q = new WaiterQueue<string, string>(1000, expiredError);
    const cs = [ctx(), ctx(), ctx()];
    const hs = [rec(), rec(), rec()];
    for (const [i, c] of cs.entries()) q.add(`r${i}`, c, hs[i]!);
    const reason = new CancelledError('gave up');
    cs[1]!.cancel(reason);
    assert.deepEqual(hs[1]!.errors, [reason]);
    assert.equal(q.size, 2);
    assert.equal(q.take()!.req, 'r0');
    assert.equal(q.take()!.req, 'r2');
    assert.equal(q.take(), undefined);
    cs[0]!.cancel(reason); // handed out: the queue's hook was cleared
    assert.deepEqual(hs[0]!.errors, []);
  });

  test('take(): a waiter whose deadline already passed is never handed out, even before its timer ran', () => {
    const q = new WaiterQueue<string, string>(Infinity, expiredError);
    const late = ctx(5);
    const lateH = rec();
    q.add('late', late, lateH);
    q.add('fine', ctx(10_000), rec());
    block(15); // the deadline passes; the timer cannot run while we hold the loop
    assert.equal(lateH.errors.length, 0, 'its timer has not run');
    const w = q.take();
    assert.equal(w?.req, 'fine', 'the expired waiter was skipped');
    assert.ok(lateH.errors[0] instanceof TimeoutError, 'and failed as its timer would have');
    assert.equal(late.cancelled, lateH.errors[0]);
    assert.equal(q.size, 0);
  });

  test('failAll empties the queue and clears the timer', () => {
    const q = new WaiterQueue<string, string>(50, expiredError);
    const hs = [rec(), rec()];
    for (const [i, h] of hs.entries()) q.add(`r${i}`, ctx(), h);
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    q.failAll(new ClosedError('closed', { unwritten: true }));
    const afterwards = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    for (const h of hs) assert.ok(h.errors[0] instanceof ClosedError);
    assert.equal(q.size, 0);
    assert.equal(afterwards, before - 1, 'the queue keeps no timer once empty');
  });
});
