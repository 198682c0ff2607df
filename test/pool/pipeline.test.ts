// PipelinePool against real TCP: pipelined ThriftSessions to a Scales Echo server. What it gained
// from the pool base: bounded waiters, connect backoff, and a close with a grace period.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClosedError, ConnectionClosedError, OverloadedError, TimeoutError } from '../../src/core/errors.js';
import { PipelinePool, type PipelinePoolOptions } from '../../src/pool/pipeline.js';
import type { ThriftReply } from '../../src/protocols/thrift/messages.js';
import { constantBackoff } from '../../src/resilience/backoff.js';
import {
  ctx,
  outcome,
  startEchoServer,
  TcpProxy,
  thriftConnector,
  track,
  until,
  type EchoRequest,
  type EchoServer,
  type TrackedConnector,
  echo,
  isErr,
  range,
  connectRefusedThenRecovers,
} from './session-factory.js';

type Pool = PipelinePool<EchoRequest, ThriftReply>;

describe('PipelinePool over real TCP', () => {
  let srv: EchoServer;
  const cleanups: (() => Promise<void>)[] = [];
  const makeProxy = async (): Promise<TcpProxy> => {
    const proxy = new TcpProxy(srv.port);
    await proxy.accept();
    cleanups.push(() => proxy.close());
    return proxy;
  };
  const makePool = (c: TrackedConnector, opts: PipelinePoolOptions = {}): Pool => {
    const pool = new PipelinePool(() => c.connect(), { endpoint: 'echo', ...opts });
    cleanups.push(() => pool.close(200));
    return pool;
  };
  const seenIds = (): bigint[] => srv.ids();

  before(async () => {
    srv = await startEchoServer();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await srv.close(500);
  });

  test('calls during the first connect wait for it (one connect); busy sessions grow the pool up to size', async () => {
    const c = thriftConnector(() => srv.port, { delayMs: 100 });
    const pool = makePool(c, { size: 2 });
    const cold = range(100, 10).map((id) => echo(pool, id, 50));
    assert.equal(pool.waiters, 10);
    assert.equal(pool.size, 1, 'one connect for the burst');
    assert.deepEqual(await Promise.all(cold), range(100, 10).map(BigInt));
    const warm = range(110, 10).map((id) => echo(pool, id, 50));
    await until('a second session opened in the background', () => c.sessions.length === 2);
    assert.deepEqual(await Promise.all(warm), range(110, 10).map(BigInt));
    assert.equal(c.attempts, 2);
  });

  test('maxWaiters bounds the calls waiting for a connect; a waiter past its deadline is not sent', async () => {
    const c = thriftConnector(() => srv.port, { delayMs: 200 });
    const pool = makePool(c, { maxWaiters: 3 });
    const ok = [200, 201].map((id) => track(echo(pool, id)));
    const timed = track(echo(pool, 202, 0, ctx(50)));
    const res = await outcome(echo(pool, 203));
    assert.ok(!res.ok && isErr(OverloadedError, true)(res.error), 'the fourth waiter is refused');
    const t = await outcome(timed.p);
    assert.ok(!t.ok && isErr(TimeoutError, true)(t.error), 'deadline passed while waiting');
    assert.equal(ok[0]!.settled, false, 'at its deadline, not when the connect landed');
    assert.deepEqual(await Promise.all(ok.map((x) => x.p)), [200n, 201n]);
    assert.ok(!seenIds().includes(202n) && !seenIds().includes(203n));
  });

  test('connect refused: ConnectError to the waiters, then busy and fast-fail during backoff, then recovery', async () => {
    await connectRefusedThenRecovers((c) => makePool(c, { backoff: constantBackoff(800) }), 300);
  });

  test('close(): waiters fail with ClosedError; in-flight calls finish within grace, each session closes as soon as idle', async () => {
    for (const whenIdle of [false, true]) {
      const proxy = await makeProxy();
      const c = thriftConnector(() => proxy.port, { whenIdle });
      const pool = makePool(c);
      assert.equal(await echo(pool, 400), 400n);
      const a = track(echo(pool, 401, 300));
      await until('in flight', () => seenIds().includes(401n));
      const closing = track(pool.close(5000));
      assert.equal(pool.status, 'closed');
      await assert.rejects(echo(pool, 402), isErr(ClosedError, true));
      assert.equal(await a.p, 401n);
      await new Promise((r) => setImmediate(r));
      assert.ok(c.sessions[0]!.closeCalled && !c.sessions[0]!.aborted, `whenIdle ${whenIdle}: closed right after the last reply, gracefully`);
      await closing.p;
      await until('connection closed on the server side', () => proxy.live === 0);

      // Calls waiting for a connect when the pool closes fail with ClosedError; the late connection is closed.
      const slow = thriftConnector(() => proxy.port, { delayMs: 200 });
      const p2 = makePool(slow);
      const w = track(echo(p2, 410));
      await p2.close(1000);
      const res = await outcome(w.p);
      assert.ok(!res.ok && isErr(ClosedError, true)(res.error));
      await until('the connection that landed after close is closed', () => slow.sessions.length === 1 && slow.sessions[0]!.closeCalled);
    }
  });

  test('close(grace): a call still running at the grace fails at once, and the connection is cut', async () => {
    const proxy = await makeProxy();
    const c = thriftConnector(() => proxy.port, { whenIdle: true });
    const pool = makePool(c);
    const slow = track(echo(pool, 420, 3000));
    await until('in flight', () => seenIds().includes(420n));
    const t0 = Date.now();
    await pool.close(100);
    const res = await outcome(slow.p);
    const took = Date.now() - t0;
    assert.ok(!res.ok && isErr(ConnectionClosedError)(res.error), `the running call failed: ${String(!res.ok && res.error)}`);
    assert.ok(took >= 90 && took < 1500, `close and the cut call took ${took} ms (grace 100 ms, the call 3000 ms)`);
    assert.ok(c.sessions[0]!.aborted, 'cut, not ended');
    await until('connection closed on the server side', () => proxy.live === 0);
  });
});
