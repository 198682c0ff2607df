import { performance } from 'node:perf_hooks';
import { formatAddress } from '../../src/discovery/endpoint.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancelledError, ConnectionClosedError, NodeUnavailableError, OverloadedError, TimeoutError } from '../../src/core/errors.js';
import { CallContext, type Service } from '../../src/core/service.js';
import { Stack, type StackLayer } from '../../src/core/stack.js';
import type { Address } from '../../src/discovery/uri.js';
import { ThriftException } from '../../src/protocols/thrift/descriptors.js';
import { constantBackoff, type Backoff } from '../../src/resilience/backoff.js';
import { FailureAccrualService, failureAccrualLayer, type NodeState } from '../../src/resilience/failure-accrual.js';
import { FakeClock, outcome, ScriptedService, sleep, type Step } from './fake-service.js';

const ctx = (): CallContext => new CallContext('get', undefined, undefined);
const fail: Step<string> = { error: new ConnectionClosedError('reset') };
const ok: Step<string> = { reply: 'ok' };

/** A node whose answers the test switches between healthy and failing. */
function node(): { svc: ScriptedService<string, string>; setHealthy: (h: boolean) => void } {
  let healthy = true;
  const svc = new ScriptedService<string, string>(() => (healthy ? ok : fail));
  return { svc, setHealthy: (h) => (healthy = h) };
}

function accrual(below: Service<string, string>, backoff: Backoff, extra: { now?: () => number } = {}) {
  const states: NodeState[] = [];
  const fa = new FailureAccrualService(below, '10.0.0.1:9090', {
    backoff,
    successRate: false,
    onStateChange: (s, key) => {
      assert.equal(key, '10.0.0.1:9090');
      states.push(s);
    },
    ...extra,
  });
  return { fa, states };
}

async function callN(fa: Service<string, string>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await outcome(fa.call('x', ctx()));
}

test('dead after 5 consecutive failures; dead calls fail fast without reaching the node', async () => {
  const { svc, setHealthy } = node();
  const { fa, states } = accrual(svc, constantBackoff(10_000));
  setHealthy(false);
  await callN(fa, 4);
  assert.equal(fa.state, 'alive');
  assert.equal(fa.status, 'open');
  await callN(fa, 1);
  assert.equal(fa.state, 'dead');
  assert.equal(fa.status, 'busy');
  assert.deepEqual(states, ['dead']);
  const sent = svc.attempts.length;
  const r = await outcome(fa.call('x', ctx()));
  assert.ok(!r.ok && r.error instanceof NodeUnavailableError);
  assert.equal((r.error as NodeUnavailableError).code, 'SCALES_ERR_NODE_UNAVAILABLE');
  assert.equal((r.error as NodeUnavailableError).unwritten, true, 'a retry elsewhere is always safe');
  assert.equal((r.error as NodeUnavailableError).endpoint, '10.0.0.1:9090');
  assert.equal(svc.attempts.length, sent, 'the node was not called');
  await fa.close();
  assert.equal(fa.status, 'closed');
});

test('a success resets the count; cancels and declared exceptions are not failures', async () => {
  class NotFound extends ThriftException {}
  let i = 0;
  const script: Step<string>[] = [fail, fail, fail, fail, ok, fail, fail, fail, fail, { error: new CancelledError() }, { error: new NotFound('NotFound') }, fail];
  const svc = new ScriptedService<string, string>(() => script[i++]!);
  const { fa } = accrual(svc, constantBackoff(10_000));
  await callN(fa, script.length);
  assert.equal(fa.state, 'alive', '4 failures, success, 4 failures, cancel, declared exception, 1 failure');
  await fa.close();
});

test('refusals by our own pool (local) are not failures of the node; the same errors from elsewhere are', async () => {
  const local = { unwritten: true, local: true };
  const refusals: Step<string>[] = [{ error: new OverloadedError('queue full', local) }, { error: new TimeoutError('deadline passed while waiting for a connection', local) }];
  let i = 0;
  const svc = new ScriptedService<string, string>(() => refusals[i++ % 2]!);
  const { fa } = accrual(svc, constantBackoff(10_000));
  await callN(fa, 20);
  assert.equal(fa.state, 'alive', '20 local refusals in a row');
  const remote = new ScriptedService<string, string>(() => ({ error: new OverloadedError('the node said so') }));
  const other = accrual(remote, constantBackoff(10_000));
  await callN(other.fa, 5);
  assert.equal(other.fa.state, 'dead', 'an overload the node reported counts');
  await fa.close();
  await other.fa.close();
});

test('probe after the backoff: one call through, success revives', async () => {
  const { svc, setHealthy } = node();
  const { fa, states } = accrual(svc, constantBackoff(15));
  setHealthy(false);
  await callN(fa, 5);
  assert.equal(fa.state, 'dead');
  await sleep(25);
  assert.equal(fa.state, 'probing');
  assert.equal(fa.status, 'open', 'the balancer may send the probe');
  setHealthy(true);
  const probe = fa.call('probe', ctx());
  assert.equal(fa.status, 'busy', 'only one probe at a time');
  const other = await outcome(fa.call('x', ctx()));
  assert.ok(!other.ok && other.error instanceof NodeUnavailableError);
  assert.equal(await probe, 'ok');
  assert.equal(fa.state, 'alive');
  assert.equal(fa.status, 'open');
  assert.deepEqual(states, ['dead', 'probing', 'alive']);
  await fa.close();
});

test('a failed probe marks dead again for a longer backoff; revival resets the backoff', async () => {
  const { svc, setHealthy } = node();
  const asked: number[] = [];
  const { fa, states } = accrual(svc, (n) => {
    asked.push(n);
    return 10 * n;
  });
  setHealthy(false);
  await callN(fa, 5);
  const deadAt: number[] = [Date.now()];
  const probingAt: number[] = [];
  for (let round = 0; round < 2; round++) {
    while (fa.state !== 'probing') await sleep(2);
    probingAt.push(Date.now());
    await callN(fa, 1); // the probe fails
    assert.equal(fa.state, 'dead');
    deadAt.push(Date.now());
  }
  assert.deepEqual(asked, [1, 2, 3]);
  assert.ok(probingAt[0]! - deadAt[0]! >= 9, 'first dead period ~10 ms');
  assert.ok(probingAt[1]! - deadAt[1]! >= 19, 'second dead period ~20 ms');
  while (fa.state !== 'probing') await sleep(2);
  setHealthy(true);
  await callN(fa, 1);
  assert.equal(fa.state, 'alive');
  setHealthy(false);
  await callN(fa, 5);
  assert.deepEqual(asked, [1, 2, 3, 1], 'a revived node starts the backoff over');
  assert.deepEqual(states, ['dead', 'probing', 'dead', 'probing', 'dead', 'probing', 'alive', 'dead']);
  await fa.close();
});

test('a cancelled probe leaves the node probing: the next call probes', async () => {
  const svc = new ScriptedService<string, string>(() => ({ reply: 'late', after: 1000 }));
  let dead = true;
  const gate = new ScriptedService<string, string>(() => (dead ? fail : ok));
  // Fail five times through a fast node, then probe through the slow one.
  const router: Service<string, string> = {
    get status() {
      return 'open' as const;
    },
    call: (req, c) => (req === 'slow' ? svc.call(req, c) : gate.call(req, c)),
    close: () => Promise.resolve(),
  };
  const { fa } = accrual(router, constantBackoff(5));
  await callN(fa, 5);
  while (fa.state !== 'probing') await sleep(2);
  const c = ctx();
  const probe = outcome(fa.call('slow', c));
  c.cancel(new CancelledError('caller gave up'));
  const r = await probe;
  assert.ok(!r.ok && r.error instanceof CancelledError);
  assert.equal(fa.state, 'probing');
  assert.equal(fa.status, 'open');
  dead = false;
  await callN(fa, 1);
  assert.equal(fa.state, 'alive');
  await fa.close();
});

test('success-rate trigger: a node at 50% trips once a full window has passed; one at 90% does not', async () => {
  for (const [failEvery, expectDead] of [
    [2, true],
    [10, false],
  ] as const) {
    const clock = new FakeClock();
    let n = 0;
    // Never 5 failures in a row: only the success rate can trip.
    const svc = new ScriptedService<string, string>(() => (++n % failEvery === 0 ? { error: new ConnectionClosedError() } : ok));
    const fa = new FailureAccrualService(svc, 'n:1', {
      backoff: constantBackoff(10_000),
      successRate: { threshold: 0.8, window: 1000, minRequests: 5 },
      consecutiveFailures: 0,
      now: clock.now,
    });
    // 4 s at 20 requests/s; the window is 1 s.
    let deadAfter = -1;
    for (let i = 0; i < 80 && fa.state === 'alive'; i++) {
      clock.advance(50);
      await outcome(fa.call('x', ctx()));
      if ((fa.state as NodeState) === 'dead') deadAfter = (i + 1) * 50;
    }
    if (expectDead) {
      assert.equal(fa.state, 'dead', 'a 50% node is marked dead');
      assert.ok(deadAfter >= 1000, `not before a full window (${deadAfter} ms)`);
      assert.ok(deadAfter <= 1200, `soon after it (${deadAfter} ms)`);
    } else {
      assert.equal(fa.state, 'alive', 'a 90% node stays in');
    }
    await fa.close();
  }
});

test('success rate needs minRequests in the window', async () => {
  const clock = new FakeClock();
  const svc = new ScriptedService<string, string>(() => fail);
  const fa = new FailureAccrualService(svc, 'n:1', {
    backoff: constantBackoff(10_000),
    successRate: { threshold: 0.8, window: 1000, minRequests: 5 },
    consecutiveFailures: 0,
    now: clock.now,
  });
  for (let i = 0; i < 6; i++) {
    clock.advance(400); // 2-3 requests per window: too few to judge
    await outcome(fa.call('x', ctx()));
  }
  assert.equal(fa.state, 'alive');
  await fa.close();
});

test('layer: one accrual per node address, keyed host:port, with the role name', async () => {
  const made: string[] = [];
  const terminal: StackLayer = {
    role: 'pool',
    description: 'fake per-node services',
    gives: 'service<wire>',
    make: (_below, at) => {
      made.push((at!.endpoint as Address).host);
      return new ScriptedService<string, string>(() => fail);
    },
  };
  const states: string[] = [];
  const stack = new Stack([failureAccrualLayer({ consecutiveFailures: 1, onStateChange: (s, key) => states.push(`${key} ${s}`) }), terminal]);
  assert.deepEqual(stack.roles, ['failure-accrual', 'pool']);
  assert.match(stack.describe(), /failure-accrual.*1 consecutive failures/);
  const makeNode = (e: Address): FailureAccrualService<string, string> => stack.build<string, string>({ endpoint: e, key: formatAddress(e) }) as FailureAccrualService<string, string>;
  const a = makeNode({ host: '::1', port: 80 });
  const b = makeNode({ host: 'b', port: 81 });
  await outcome(a.call('x', ctx()));
  assert.equal(a.state, 'dead');
  assert.equal(b.state, 'alive');
  assert.deepEqual(states, ['[::1]:80 dead']);
  assert.deepEqual(made, ['::1', 'b']);
  await a.close();
  await b.close();
});

test('a dead node fails fast naming its last failure (message and cause)', async () => {
  const { fa } = accrual(new ScriptedService<string, string>(() => fail), constantBackoff(60_000));
  await callN(fa, 5);
  assert.equal(fa.state, 'dead');
  const r = await outcome(fa.call('x', ctx()));
  assert.ok(!r.ok && r.error instanceof NodeUnavailableError);
  assert.match((r.error as Error).message, /10\.0\.0\.1:9090 is unavailable \(marked dead by failure accrual; last failure: reset\)/);
  assert.ok((r.error as Error).cause instanceof ConnectionClosedError);
  await fa.close();
});

test('panic mode (no node open): a dead node still takes the call; a success revives it, a failure changes nothing', async () => {
  let healthy = false;
  const below = new ScriptedService<string, string>(() => (healthy ? ok : fail));
  const { fa, states } = accrual(below, constantBackoff(60_000));
  await callN(fa, 5);
  assert.equal(fa.state, 'dead');
  const sent = below.attempts.length;
  // Behind a balancer (which picks a dead node only when none is open), as the client stack
  // builds it: the balancer reports each attempt's outcome to the node's accrual.
  const reported = new FailureAccrualService(below, '10.0.0.1:9090', { backoff: constantBackoff(60_000), successRate: false, onStateChange: (s) => states.push(s) }, () => undefined);
  const viaBalancer = (c: CallContext): Promise<string> =>
    reported.call('x', c).then(
      (rep) => {
        reported.attemptEnded(true, rep, c, 0, performance.now());
        return rep;
      },
      (err: unknown) => {
        reported.attemptEnded(false, err, c, 0, performance.now());
        throw err;
      },
    );
  states.length = 0;
  for (let i = 0; i < 5; i++) await outcome(viaBalancer(ctx()));
  assert.equal(reported.state, 'dead');
  assert.deepEqual(states, ['dead']);
  const panic = ctx;
  const failed = await outcome(viaBalancer(panic()));
  assert.ok(!failed.ok && failed.error instanceof ConnectionClosedError, 'tried, and failed like the node does');
  assert.equal(below.attempts.length, sent + 6);
  assert.equal(reported.state, 'dead');
  // Standalone (no balancer reporting), the same dead node fails fast instead.
  assert.ok(!(await outcome(fa.call('x', ctx()))).ok);
  assert.equal(below.attempts.length, sent + 6, 'standalone: not sent');
  healthy = true;
  const r = await outcome(viaBalancer(panic()));
  assert.deepEqual(r, { ok: true, value: 'ok' });
  assert.equal(reported.state, 'alive');
  assert.deepEqual(states, ['dead', 'alive']);
  await fa.close();
  await reported.close();
});
