// SingletonPool against real TCP: one shared, pipelined ThriftSession to a Scales Echo server,
// through a TCP proxy where a test counts, refuses or cuts connections.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CancelledError, ClosedError, ConnectionClosedError, OverloadedError, TimeoutError } from '../../src/core/errors.js';
import { SingletonPool, type SingletonPoolOptions } from '../../src/pool/singleton.js';
import type { ThriftReply } from '../../src/protocols/thrift/messages.js';
import { constantBackoff } from '../../src/resilience/backoff.js';
import {
  ctx,
  outcome,
  sleep,
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

type Pool = SingletonPool<EchoRequest, ThriftReply>;

describe('SingletonPool over real TCP', () => {
  let srv: EchoServer;
  const cleanups: (() => Promise<void>)[] = [];
  const makeProxy = async (): Promise<TcpProxy> => {
    const proxy = new TcpProxy(srv.port);
    await proxy.accept();
    cleanups.push(() => proxy.close());
    return proxy;
  };
  const makePool = (c: TrackedConnector, opts: SingletonPoolOptions = {}): Pool => {
    const pool = new SingletonPool(c.connect, { endpoint: 'echo', ...opts });
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

  test('all concurrent calls share ONE connection', async () => {
    const proxy = await makeProxy();
    const c = thriftConnector(() => proxy.port);
    const pool = makePool(c);
    let maxLoad = 0;
    const cold = range(100, 20).map((id) => echo(pool, id, 100));
    assert.equal(pool.waiters, 20, 'all wait for the one connect');
    await until('all twenty in flight at once', () => (maxLoad = Math.max(maxLoad, pool.load)) === 20);
    assert.deepEqual(await Promise.all(cold), range(100, 20).map(BigInt));
    const warm = await Promise.all(range(120, 20).map((id) => echo(pool, id, 50)));
    assert.deepEqual(warm, range(120, 20).map(BigInt));
    assert.equal(c.attempts, 1);
    assert.equal(proxy.accepted, 1, 'the server side saw one connection');
    assert.equal(proxy.live, 1);
    const peers = new Set(srv.seen.filter((s) => s.id >= 100n && s.id < 140n).map((s) => s.peer));
    assert.equal(peers.size, 1);
    assert.equal(c.sessions[0]!.calls.length, 40);
    assert.ok(pool.connected);
    assert.equal(pool.load, 0);
  });

  test('calls arriving during the connect wait for it and all succeed', async () => {
    const c = thriftConnector(() => srv.port, { delayMs: 200 });
    const pool = makePool(c);
    const first = track(echo(pool, 200));
    await sleep(50);
    // One of them with a deadline beyond setTimeout's range (~24.8 days): it simply waits.
    const rest = range(201, 9).map((id) => echo(pool, id, 0, id === 205 ? ctx(3e9) : ctx()));
    assert.equal(pool.waiters, 10);
    assert.equal(first.settled, false);
    assert.equal(c.attempts, 1, 'one connect for all of them');
    assert.deepEqual(await Promise.all([first.p, ...rest]), range(200, 10).map(BigInt));
    assert.equal(pool.waiters, 0);
    assert.equal(c.sessions.length, 1);
  });

  test('waiters respect their deadline and cancellation; the others still go through', async () => {
    const c = thriftConnector(() => srv.port, { delayMs: 400 });
    const pool = makePool(c);
    const late = track(echo(pool, 300)); // no deadline: waits for the connect
    const timed = ctx(60);
    const a = track(echo(pool, 301, 0, timed));
    const bctx = ctx();
    const b = track(echo(pool, 302, 0, bctx));
    assert.equal(pool.waiters, 3);

    const res = await outcome(a.p);
    assert.ok(!res.ok && isErr(TimeoutError, true)(res.error), 'deadline passed while waiting for the connect');
    assert.equal(timed.cancelled, res.error);
    assert.equal(late.settled, false, 'at its deadline, not when the connect landed');
    assert.equal(pool.waiters, 2);

    const reason = new CancelledError('caller gave up');
    bctx.cancel(reason);
    const resB = await outcome(b.p);
    assert.ok(!resB.ok && resB.error === reason, 'rejected at once with the reason');
    assert.equal(late.settled, false);
    assert.equal(pool.waiters, 1);

    assert.equal(await late.p, 300n);
    await sleep(20);
    assert.deepEqual(c.sessions[0]!.calls, [300n], 'neither the expired nor the cancelled call was sent');
    assert.ok(!seenIds().includes(301n) && !seenIds().includes(302n));
  });

  test('maxWaiters: more calls than that during a connect fail at once with OverloadedError', async () => {
    const c = thriftConnector(() => srv.port, { delayMs: 200 });
    const pool = makePool(c, { maxWaiters: 3 });
    const ok = range(400, 3).map((id) => track(echo(pool, id)));
    const res = await outcome(echo(pool, 403));
    assert.ok(!res.ok && isErr(OverloadedError, true)(res.error));
    assert.ok(
      ok.every((t) => !t.settled),
      'shed at once',
    );
    assert.deepEqual(await Promise.all(ok.map((t) => t.p)), range(400, 3).map(BigInt));
    // Once connected nobody waits: the bound no longer applies.
    assert.deepEqual(await Promise.all(range(410, 10).map((id) => echo(pool, id, 20))), range(410, 10).map(BigInt));
    assert.ok(!seenIds().includes(403n));
  });

  test('the server dropping the connection fails the calls in flight; the next call reconnects', async () => {
    const proxy = await makeProxy();
    const c = thriftConnector(() => proxy.port);
    const pool = makePool(c);
    assert.equal(await echo(pool, 500), 500n);
    const inFlight = [501, 502, 503].map((id) => echo(pool, id, 2000));
    await until('all three at the server', () => [501n, 502n, 503n].every((id) => seenIds().includes(id)));
    proxy.dropAll();
    for (const p of inFlight) await assert.rejects(p, isErr(ConnectionClosedError));
    assert.equal(pool.connected, false);
    assert.equal(await echo(pool, 504), 504n);
    assert.equal(c.attempts, 2);
    assert.equal(proxy.accepted, 2);
    assert.deepEqual(c.sessions[1]!.calls, [504n]);
    assert.ok(pool.connected);
  });

  test('connect refused: ConnectError (unwritten) to every waiter, then busy and fast-fail during backoff, then recovery', async () => {
    await connectRefusedThenRecovers((c) => makePool(c, { backoff: constantBackoff(800) }), 600);
  });

  test('close(): a call still running after the grace fails at once, and the connection is cut', async () => {
    const proxy = await makeProxy();
    const c = thriftConnector(() => proxy.port);
    const pool = makePool(c);
    assert.equal(await echo(pool, 720), 720n);
    const slow = track(echo(pool, 721, 3000));
    await until('in flight', () => seenIds().includes(721n));
    const t0 = Date.now();
    await pool.close(100);
    const res = await outcome(slow.p);
    const took = Date.now() - t0;
    assert.ok(!res.ok && isErr(ConnectionClosedError)(res.error), 'the running call failed');
    assert.ok(took < 1500, `close and the cut call took ${took} ms (grace 100 ms, the call 3000 ms)`);
    assert.ok(c.sessions[0]!.aborted, 'cut, not ended');
    await until('connection closed on the server side', () => proxy.live === 0);
  });

  test('close(): waiters fail with ClosedError, in-flight calls finish within grace, then the connection closes', async () => {
    const proxy = await makeProxy();
    const c = thriftConnector(() => proxy.port);
    const pool = makePool(c);
    assert.equal(await echo(pool, 700), 700n);
    const a = track(echo(pool, 701, 300));
    const b = track(echo(pool, 702, 100));
    await until('both in flight', () => seenIds().includes(701n) && seenIds().includes(702n));
    const closing = track(pool.close(5000));
    assert.equal(pool.status, 'closed');
    await assert.rejects(echo(pool, 703), isErr(ClosedError, true));
    assert.equal(await b.p, 702n);
    assert.equal(closing.settled, false, 'still draining');
    assert.equal(await a.p, 701n);
    await closing.p;
    assert.ok(c.sessions[0]!.closeCalled);
    await until('connection closed on the server side', () => proxy.live === 0);
    assert.ok(!seenIds().includes(703n));

    // Calls waiting for a connect when the pool closes fail with ClosedError; the late connection is closed.
    const slow = thriftConnector(() => proxy.port, { delayMs: 200 });
    const p2 = makePool(slow);
    const w = track(echo(p2, 710));
    await p2.close(1000);
    const res = await outcome(w.p);
    assert.ok(!res.ok && isErr(ClosedError, true)(res.error));
    await until('the connection that landed after close is closed', () => slow.sessions.length === 1 && slow.sessions[0]!.closeCalled);
  });
});
