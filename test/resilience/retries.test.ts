import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancelledError, ConnectError, ConnectionClosedError, TimeoutError } from '../../src/core/errors.js';
import { CallContext, type Service } from '../../src/core/service.js';
import { Stack, type StackLayer } from '../../src/core/stack.js';
import { constantBackoff } from '../../src/resilience/backoff.js';
import { RetryBudget } from '../../src/resilience/retry-budget.js';
import { RetriesService, retriesLayer } from '../../src/resilience/retries.js';
import { timeoutLayer } from '../../src/resilience/timeout.js';
import { FakeClock, outcome, ScriptedService, sleep, type Step } from './fake-service.js';

const ctx = (deadline?: number): CallContext => new CallContext('get', deadline, undefined);
const unwritten: Step<string> = { error: new ConnectError('refused', { endpoint: 'a:1' }) };
const closed: Step<string> = { error: new ConnectionClosedError('reset') };

test('an unwritten failure is retried even for a non-idempotent call', async () => {
  const svc = new ScriptedService<string, string>((n) => (n === 1 ? unwritten : { reply: 'second try' }));
  const r = new RetriesService(svc);
  assert.equal(await r.call('x', ctx()), 'second try');
  assert.equal(svc.attempts.length, 2);
  assert.deepEqual({ ...r.stats }, { requests: 1, retries: 1, budgetExhausted: 0 });
});

test('a connection lost mid-call is retried only when the call is idempotent', async () => {
  const script = (n: number): Step<string> => (n === 1 ? closed : { reply: 'ok' });
  const plain = new ScriptedService<string, string>(script);
  const res = await outcome(new RetriesService(plain).call('x', ctx()));
  assert.ok(!res.ok && res.error instanceof ConnectionClosedError, 'the request may have run: not sent twice');
  assert.equal(plain.attempts.length, 1);

  const idem = new ScriptedService<string, string>(script);
  const r = new RetriesService(idem, { idempotent: (c) => c.method === 'get' });
  assert.equal(await r.call('x', ctx()), 'ok');
  assert.equal(idem.attempts.length, 2);
});

test('at most maxRetries, then the last error', async () => {
  const svc = new ScriptedService<string, string>(() => unwritten);
  const r = new RetriesService(svc, { maxRetries: 2 });
  const res = await outcome(r.call('x', ctx()));
  assert.ok(!res.ok && res.error instanceof ConnectError);
  assert.equal(svc.attempts.length, 3);
  assert.equal(r.stats.retries, 2);
});

test('an empty budget stops retries and is counted', async () => {
  const svc = new ScriptedService<string, string>(() => unwritten);
  const r = new RetriesService(svc, { budget: new RetryBudget({ minRetriesPerSec: 0, percentCanRetry: 0 }) });
  const res = await outcome(r.call('x', ctx()));
  assert.ok(!res.ok && res.error instanceof ConnectError);
  assert.equal(svc.attempts.length, 1);
  assert.deepEqual({ ...r.stats }, { requests: 1, retries: 0, budgetExhausted: 1 });
});

test('100% failing traffic through the layer: retries ≤ 20% of requests + floor × seconds', async () => {
  const clock = new FakeClock();
  const svc = new ScriptedService<string, string>(() => unwritten);
  const layer = retriesLayer({ budget: new RetryBudget({ now: clock.now }), maxRetries: 5 });
  const svcTop = new Stack([layer, { role: 'node', description: 'always fails', make: () => svc }]).build<string, string>();
  const seconds = 20;
  const rps = 50;
  for (let i = 0; i < seconds * rps; i++) {
    clock.advance(1000 / rps);
    await outcome(svcTop.call('x', ctx()));
  }
  const { requests, retries, budgetExhausted } = layer.stats;
  assert.equal(requests, seconds * rps);
  assert.equal(svc.attempts.length, requests + retries, 'every counted retry was sent');
  const bound = 0.2 * requests + 10 * (seconds + 10);
  assert.ok(retries <= bound, `${retries} retries > ${bound}`);
  assert.ok(retries >= 0.2 * requests, `the budget was used (${retries})`);
  assert.ok(budgetExhausted > 0);
});

test('no retry would start past the deadline', async () => {
  const svc = new ScriptedService<string, string>(() => unwritten);
  const r = new RetriesService(svc, { backoff: constantBackoff(30), maxRetries: 10 });
  const start = Date.now();
  const res = await outcome(r.call('x', ctx(start + 75)));
  assert.ok(!res.ok && res.error instanceof ConnectError);
  // Attempts at ~0, ~30 and ~60 ms; the next would be at ~90 ms, past the 75 ms deadline.
  assert.equal(svc.attempts.length, 3);
  assert.ok(Date.now() - start < 75);
});

test('a cancel during the backoff fails the call at once and sends nothing more', async () => {
  const svc = new ScriptedService<string, string>(() => unwritten);
  const r = new RetriesService(svc, { backoff: constantBackoff(80) });
  const c = ctx();
  const start = Date.now();
  const p = outcome(r.call('x', c));
  await sleep(10);
  c.cancel(new CancelledError('caller gave up'));
  const res = await p;
  assert.ok(!res.ok && res.error instanceof CancelledError);
  assert.ok(Date.now() - start < 60, 'freed before the backoff ended');
  await sleep(100);
  assert.equal(svc.attempts.length, 1, 'the backoff timer was cleared');
});

test('a cancel during an attempt is not retried', async () => {
  const svc = new ScriptedService<string, string>(() => ({ reply: 'late', after: 500 }));
  const r = new RetriesService(svc, { idempotent: () => true });
  const c = ctx();
  const p = outcome(r.call('x', c));
  await sleep(5);
  c.cancel(new CancelledError('caller gave up'));
  const res = await p;
  assert.ok(!res.ok && res.error instanceof CancelledError);
  assert.equal(svc.attempts.length, 1);
  assert.ok(svc.attempts[0]!.cancelledWith instanceof CancelledError, 'the attempt below was abandoned');
});

test('under the timeout layer: the deadline ends the retries with a TimeoutError', async () => {
  // Each attempt hangs 40 ms then fails unwritten; the deadline is 100 ms.
  const svc = new ScriptedService<string, string>(() => ({ ...unwritten, after: 40 }));
  const terminal: StackLayer = { role: 'node', description: 'slow failures', make: () => svc };
  const top = new Stack([timeoutLayer(), retriesLayer({ maxRetries: 10 }), terminal]).build<string, string>() as Service<string, string>;
  const start = Date.now();
  const res = await outcome(top.call('x', ctx(start + 100)));
  assert.ok(!res.ok && res.error instanceof TimeoutError, String(!res.ok && res.error));
  await sleep(60);
  assert.equal(svc.attempts.length, 3, 'attempts at 0, 40, 80 ms; the third abandoned at 100 ms, none after');
  assert.ok(svc.attempts[2]!.cancelledWith instanceof TimeoutError);
});

test('a retry predicate that throws fails the call with its error (nothing hangs, nothing is resent)', async () => {
  const svc = new ScriptedService<string, string>(() => unwritten);
  const bug = new Error('predicate bug');
  const r = new RetriesService(svc, {
    idempotent: () => {
      throw bug;
    },
  });
  const res = await outcome(r.call('x', ctx()));
  assert.ok(!res.ok && res.error === bug);
  assert.equal(svc.attempts.length, 1);
});

test('the layer describes itself and shares its stats', () => {
  const layer = retriesLayer();
  assert.equal(layer.role, 'retries');
  assert.match(layer.description, /at most 2 per call.*20% \+ 10\/s/);
  assert.equal(layer.stats.requests, 0);
  assert.throws(() => new RetriesService(new ScriptedService<string, string>(() => unwritten), { maxRetries: -1 }), /maxRetries/);
});
