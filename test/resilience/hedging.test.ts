import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancelledError, ConnectionClosedError, TimeoutError } from '../../src/core/errors.js';
import { CallContext } from '../../src/core/service.js';
import { ThriftException } from '../../src/protocols/thrift/descriptors.js';
import { HedgingService, hedgingLayer } from '../../src/resilience/hedging.js';
import { RetryBudget } from '../../src/resilience/retry-budget.js';
import { outcome, ScriptedService, sleep, type Step } from './fake-service.js';

const ctx = (deadline?: number): CallContext => new CallContext('get', deadline, undefined);

/** Attempt n follows steps[n-1]. */
const scripted = (...steps: Step<string>[]) => new ScriptedService<string, string>((n) => steps[n - 1]!);

test('a slow first attempt gets a backup after the delay; the backup wins, the first is cancelled', async () => {
  const svc = scripted({ reply: 'slow', after: 300 }, { reply: 'fast', after: 5 });
  const h = new HedgingService(svc, { delay: 20 });
  const parent = ctx();
  const start = Date.now();
  assert.equal(await h.call('x', parent), 'fast');
  const took = Date.now() - start;
  assert.ok(took >= 20 && took < 150, `answered by the backup after ~25 ms, took ${took}`);
  assert.equal(svc.attempts.length, 2);
  assert.ok(svc.attempts[1]!.at - svc.attempts[0]!.at >= 19, 'backup sent after the delay');
  assert.ok(svc.attempts[0]!.cancelledWith instanceof CancelledError, 'the loser was cancelled');
  assert.notEqual(svc.attempts[0]!.ctx, svc.attempts[1]!.ctx, 'each attempt has its own context');
  assert.notEqual(svc.attempts[0]!.ctx, parent);
  assert.equal(parent.cancelled, undefined, 'the caller’s context is untouched');
  assert.deepEqual({ ...h.stats }, { requests: 1, backups: 1, backupWins: 1, budgetExhausted: 0 });
});

test('the first attempt can still win; then the backup is cancelled', async () => {
  const svc = scripted({ reply: 'first', after: 30 }, { reply: 'backup', after: 300 });
  const h = new HedgingService(svc, { delay: 10 });
  assert.equal(await h.call('x', ctx()), 'first');
  assert.equal(svc.attempts.length, 2);
  assert.ok(svc.attempts[1]!.cancelledWith instanceof CancelledError);
  assert.equal(h.stats.backupWins, 0);
});

test('no backup when the reply comes before the delay', async () => {
  const svc = scripted({ reply: 'quick', after: 2 }, { reply: 'never' });
  const h = new HedgingService(svc, { delay: 30 });
  assert.equal(await h.call('x', ctx()), 'quick');
  await sleep(40);
  assert.equal(svc.attempts.length, 1, 'the timer was cleared');
});

test('no backup when the budget is exhausted', async () => {
  const svc = scripted({ reply: 'slow', after: 50 }, { reply: 'never' });
  const h = new HedgingService(svc, { delay: 5, budget: new RetryBudget({ minRetriesPerSec: 0, percentCanRetry: 0 }) });
  assert.equal(await h.call('x', ctx()), 'slow');
  assert.equal(svc.attempts.length, 1);
  assert.deepEqual({ ...h.stats }, { requests: 1, backups: 0, backupWins: 0, budgetExhausted: 1 });
});

test('a failure waits for the other attempt; a declared exception is an answer', async () => {
  const svc = scripted({ error: new ConnectionClosedError(), after: 30 }, { reply: 'rescued', after: 40 });
  const h = new HedgingService(svc, { delay: 10 });
  assert.equal(await h.call('x', ctx()), 'rescued');

  class NotFound extends ThriftException {}
  const svc2 = scripted({ error: new NotFound('NotFound'), after: 30 }, { reply: 'other', after: 300 });
  const h2 = new HedgingService(svc2, { delay: 10 });
  const r = await outcome(h2.call('x', ctx()));
  assert.ok(!r.ok && r.error instanceof NotFound, 'the server answered: no need to wait for the backup');
  assert.ok(svc2.attempts[1]!.cancelledWith instanceof CancelledError);
});

test('both failing: the call fails with the last failure', async () => {
  const svc = scripted({ error: new ConnectionClosedError('first'), after: 20 }, { error: new ConnectionClosedError('second'), after: 20 });
  const h = new HedgingService(svc, { delay: 10 });
  const r = await outcome(h.call('x', ctx()));
  assert.ok(!r.ok && (r.error as Error).message === 'second');
});

test('a failure before the delay fails the call at once (retries are another layer’s job)', async () => {
  const svc = scripted({ error: new ConnectionClosedError(), after: 2 }, { reply: 'never' });
  const h = new HedgingService(svc, { delay: 20 });
  const r = await outcome(h.call('x', ctx()));
  assert.ok(!r.ok && r.error instanceof ConnectionClosedError);
  await sleep(30);
  assert.equal(svc.attempts.length, 1);
});

test('cancelling the caller cancels both attempts', async () => {
  const svc = scripted({ reply: 'a', after: 300 }, { reply: 'b', after: 300 });
  const h = new HedgingService(svc, { delay: 5 });
  const parent = ctx();
  const p = outcome(h.call('x', parent));
  await sleep(20);
  assert.equal(svc.attempts.length, 2);
  parent.cancel(new TimeoutError('deadline'));
  const r = await p;
  assert.ok(!r.ok && r.error instanceof TimeoutError);
  assert.ok(svc.attempts.every((a) => a.cancelledWith instanceof TimeoutError));
});

test('non-idempotent calls pass straight through with the caller’s context', async () => {
  const svc = scripted({ reply: 'slow', after: 30 }, { reply: 'never' });
  const h = new HedgingService(svc, { delay: 5, idempotent: (c) => c.method !== 'get' });
  const parent = ctx();
  assert.equal(await h.call('x', parent), 'slow');
  assert.equal(svc.attempts.length, 1);
  assert.equal(svc.attempts[0]!.ctx, parent);
  assert.equal(h.stats.requests, 0);
});

test('no backup the deadline would cut off', async () => {
  const svc = scripted({ reply: 'slow', after: 30 }, { reply: 'never' });
  const h = new HedgingService(svc, { delay: 50 });
  assert.equal(await h.call('x', ctx(Date.now() + 40)), 'slow');
  assert.equal(svc.attempts.length, 1);
});

test('layer: role, description, validation', () => {
  const layer = hedgingLayer({ delay: 25 });
  assert.equal(layer.role, 'hedging');
  assert.match(layer.description, /after 25 ms.*1% \+ 10\/s/);
  assert.throws(() => new HedgingService(scripted(), { delay: 0 }), /delay/);
});
