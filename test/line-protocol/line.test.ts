// The worked example of docs/architecture.md ("Adding a protocol"): the line protocol of line.ts,
// client and server over real TCP, gets deadlines, cancellation, load balancing, failure
// accrual, overload retries and server stats from the shared stacks alone.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CallContext, CancelledError, clientStack, OverloadedError, Role, StaticServerSet, TimeoutError, type ServerCallContext } from '../../src/index.js';
import { LineClientBuilder, LineError, lineParts, serveLine, type LineCall, type LineServer } from './line.js';
import { sleep } from '../harness/wait.js';

interface Api {
  add(a: number, b: number): Promise<number>;
  sleep(ms: number, tag: string): Promise<string>;
  who(): Promise<string>;
}

function handlerFor(name: string, seen: { aborted: number }) {
  return {
    add: (a: unknown, b: unknown) => (a as number) + (b as number),
    who: () => name,
    sleep: (ms: unknown, tag: unknown, ctx: unknown) =>
      new Promise((resolve) => {
        const signal = (ctx as ServerCallContext).signal;
        const t = setTimeout(resolve, ms as number, `${tag as string}@${name}`);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          seen.aborted++;
          resolve('aborted');
        });
      }),
  };
}

describe('line protocol from the public extension points', () => {
  const seen = { aborted: 0 };
  let a: LineServer;
  let b: LineServer;
  const methods = ['add', 'sleep', 'who'];
  before(async () => {
    a = await serveLine(handlerFor('a', seen), { requestTimeout: 300, quiet: true });
    b = await serveLine(handlerFor('b', seen), { requestTimeout: 300, quiet: true });
  });
  after(async () => {
    await a.close(100);
    await b.close(100);
  });

  test('calls, load balancing over two servers, and the stack printed', async () => {
    const client = new LineClientBuilder(methods).withLoadBalancer('round-robin').build<Api>(`tcp://127.0.0.1:${a.port},127.0.0.1:${b.port}`, 2);
    try {
      assert.equal(await client.add(2, 3), 5);
      const who = await Promise.all(Array.from({ length: 40 }, () => client.who()));
      assert.equal(who.filter((w) => w === 'a').length, 20);
      assert.equal(who.filter((w) => w === 'b').length, 20);
      assert.match(client.$stack.describe(), /loadbalancer[\s\S]*per endpoint:[\s\S]*pool +singleton[\s\S]*one JSON call per line/);
      assert.equal(a.stats.snapshot().scopes['server=line']!.counters['requests'], 21);
    } finally {
      await client.$close();
    }
  });

  test('a client deadline frees the caller at once; the session stays usable (the late reply is dropped)', async () => {
    const client = new LineClientBuilder(methods).build<Api>(`tcp://127.0.0.1:${a.port}`, 2);
    try {
      const t0 = Date.now();
      await assert.rejects(client.sleep(150, 'late', { timeout: 30 }), TimeoutError);
      assert.ok(Date.now() - t0 < 120, 'freed at the deadline');
      assert.equal(await client.sleep(0, 'next'), 'next@a', 'the next call gets its own reply, not the late one');
      await sleep(200); // the late reply arrives and is dropped
      assert.equal(await client.add(1, 1), 2);
    } finally {
      await client.$close();
    }
  });

  test('cancellation through an AbortSignal', async () => {
    const client = new LineClientBuilder(methods).build<Api>(`tcp://127.0.0.1:${a.port}`, 2);
    try {
      const ac = new AbortController();
      const p = client.sleep(500, 'x', { signal: ac.signal });
      setTimeout(() => ac.abort(), 20);
      await assert.rejects(p, CancelledError);
      assert.equal(await client.add(2, 2), 4);
    } finally {
      await client.$close();
    }
  });

  test('the server deadline aborts the handler and answers a timeout error; unknown methods are refused', async () => {
    const client = new LineClientBuilder([...methods, 'nope']).withRetries(false).build<Api & { nope(): Promise<unknown> }>(`tcp://127.0.0.1:${b.port}`, 2);
    try {
      const before = seen.aborted;
      await assert.rejects(client.sleep(2000, 'x'), (e: unknown) => e instanceof LineError && e.kind === 'timeout');
      await sleep(20);
      assert.equal(seen.aborted, before + 1, 'the handler saw ctx.signal abort');
      await assert.rejects(client.nope(), (e: unknown) => e instanceof LineError && e.kind === 'unknown' && /nope/.test(e.message));
    } finally {
      await client.$close();
    }
  });

  test('failure accrual: a dead server is marked dead and avoided; calls keep succeeding on the other', async () => {
    const doomed = await serveLine(handlerFor('doomed', seen), { quiet: true });
    const client = new LineClientBuilder(methods).withFailureAccrual({ consecutiveFailures: 2, successRate: false }).build<Api>(`tcp://127.0.0.1:${doomed.port},127.0.0.1:${a.port}`, 2);
    try {
      await Promise.all(Array.from({ length: 10 }, () => client.who()));
      await doomed.close(10);
      const results = await Promise.allSettled(Array.from({ length: 60 }, () => client.who()));
      const failed = results.filter((r) => r.status === 'rejected').length;
      assert.ok(failed <= 2, `at most the calls that met the dead node before it was marked: ${failed}`);
      const node = client.$stats.snapshot().scopes[`client=line@tcp://127.0.0.1:${doomed.port},127.0.0.1:${a.port}/node=127.0.0.1:${doomed.port}`];
      assert.equal(node?.state?.current, 'dead');
    } finally {
      await client.$close();
    }
  });

  test("a driver that owns its topology: the 'endpoint' role instead of a balancer, one endpoint only", async () => {
    const single = { ...lineParts, topology: 'single' as const };
    const { stack } = clientStack(single, {}, new StaticServerSet([{ host: '127.0.0.1', port: a.port }]), 'single');
    assert.deepEqual(stack.call.roles.slice(-1), [Role.endpoint]);
    assert.ok(!stack.has(Role.loadbalancer));
    assert.match(stack.describe(), /endpoint +one endpoint \(127\.0\.0\.1:\d+\); the driver owns the topology\n {3}per endpoint:\n/);
    const svc = stack.build<LineCall, unknown>();
    try {
      assert.equal(await svc.call({ method: 'add', args: [20, 22] }, CallContext.expiring('add', 1000, undefined, undefined)), 42);
    } finally {
      await svc.close();
    }
    const two = new StaticServerSet([
      { host: '127.0.0.1', port: a.port },
      { host: '127.0.0.1', port: b.port },
    ]);
    assert.throws(() => clientStack(single, {}, two, 'single'), /exactly one endpoint, the destination names 2/);
  });

  test('overload: a server at its limit refuses at once; the client retries elsewhere', async () => {
    const busy = await serveLine(handlerFor('busy', seen), { maxConcurrent: 1, quiet: true });
    const direct = new LineClientBuilder(methods).withRetries(false).build<Api>(`tcp://127.0.0.1:${busy.port}`, 2);
    const balanced = new LineClientBuilder(methods).withLoadBalancer('round-robin').build<Api>(`tcp://127.0.0.1:${busy.port},127.0.0.1:${a.port}`, 2);
    try {
      const [first, second] = await Promise.allSettled([direct.sleep(100, 'x'), direct.sleep(0, 'y')]);
      assert.equal(first.status, 'fulfilled');
      assert.ok(second.status === 'rejected' && second.reason instanceof OverloadedError);
      const all = await Promise.all(Array.from({ length: 10 }, (_, i) => balanced.sleep(50, `c${i}`)));
      assert.equal(all.length, 10, 'every call succeeded, refused ones on the other server');
    } finally {
      await direct.$close();
      await balanced.$close();
      await busy.close(100);
    }
  });
});
