// WatermarkPool against real TCP: a Scales Thrift Echo server (which records every call it
// received and on which connection), real Connection + ThriftSession connections, and a TCP
// proxy in front where a test needs to count, refuse or cut connections.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CancelledError, ClosedError, ConnectError, OverloadedError, ScalesError, TimeoutError } from '../../src/core/errors.js';
import { CallContext, type Service } from '../../src/core/service.js';
import { WatermarkPool, type WatermarkPoolOptions } from '../../src/pool/watermark.js';
import type { ThriftReply } from '../../src/protocols/thrift/messages.js';
import { constantBackoff } from '../../src/resilience/backoff.js';
import { timeoutLayer } from '../../src/resilience/timeout.js';
import {
  ctx,
  decodeEcho,
  echoRequest,
  outcome,
  sleep,
  startEchoServer,
  TcpProxy,
  thriftConnector,
  track,
  unusedPort,
  until,
  type EchoRequest,
  type EchoServer,
  type TrackedConnector,
  echo,
  isErr,
} from './session-factory.js';

type Pool = WatermarkPool<EchoRequest, ThriftReply>;

describe('WatermarkPool over real TCP', () => {
  let srv: EchoServer;
  const cleanups: (() => Promise<void>)[] = [];
  /** A pool straight to the server (or to `port()`), closed after the suite. */
  const makePool = (opts: WatermarkPoolOptions, connector?: TrackedConnector): { pool: Pool; c: TrackedConnector } => {
    const c = connector ?? thriftConnector(() => srv.port);
    const pool = new WatermarkPool(c.connect, { endpoint: 'echo', ...opts });
    cleanups.push(() => pool.close(200));
    return { pool, c };
  };
  const makeProxy = async (): Promise<TcpProxy> => {
    const proxy = new TcpProxy(srv.port);
    await proxy.accept();
    cleanups.push(() => proxy.close());
    return proxy;
  };
  const seenIds = (): bigint[] => srv.ids();

  before(async () => {
    srv = await startEchoServer();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await srv.close(500);
  });

  test('concurrent calls open connections up to highWatermark, no more', async () => {
    const proxy = await makeProxy();
    const c = thriftConnector(() => proxy.port);
    const { pool } = makePool({ highWatermark: 4, lowWatermark: 0 }, c);
    let maxLive = 0;
    const sampler = setInterval(() => (maxLive = Math.max(maxLive, proxy.live)), 2);
    try {
      const calls = Array.from({ length: 10 }, (_, i) => echo(pool, 100 + i, 150));
      assert.equal(pool.size, 4, 'four connects started for ten calls');
      assert.equal(pool.waiters, 10);
      const ids = await Promise.all(calls);
      assert.deepEqual(
        ids,
        Array.from({ length: 10 }, (_, i) => BigInt(100 + i)),
        'each call got its own reply',
      );
    } finally {
      clearInterval(sampler);
    }
    assert.equal(c.attempts, 4);
    assert.equal(proxy.accepted, 4, 'the server side saw exactly highWatermark connections');
    assert.ok(maxLive <= 4, `at most 4 live connections, saw ${maxLive}`);
    const peers = new Set(srv.seen.filter((s) => s.id >= 100n && s.id < 110n).map((s) => s.peer));
    assert.equal(peers.size, 4, 'the ten calls ran over four connections');
    assert.equal(pool.size, 4);
    assert.equal(pool.idle, 4);
    assert.equal(pool.inUse, 0);
  });

  test('with lifoAfter: Infinity, extra calls wait FIFO and are served in order as connections free up', async () => {
    // One connection: the server receives the calls in exactly the order the pool serves them.
    const fifo = { lifoAfter: Infinity };
    const { pool } = makePool({ highWatermark: 1, admission: fifo });
    const done: bigint[] = [];
    const ids = [200, 201, 202, 203, 204, 205];
    await Promise.all(ids.map((id) => echo(pool, id, 20).then((got) => done.push(got))));
    assert.deepEqual(
      seenIds().filter((i) => i >= 200n && i < 210n),
      ids.map(BigInt),
      'served in arrival order',
    );
    assert.deepEqual(done, ids.map(BigInt), 'completed in arrival order');

    // Two connections: the dispatch order across both is still the arrival order.
    const two = makePool({ highWatermark: 2, admission: fifo });
    const more = Array.from({ length: 8 }, (_, i) => 210 + i);
    const got = await Promise.all(more.map((id, i) => echo(two.pool, id, 10 + (i % 3) * 15)));
    assert.deepEqual(got, more.map(BigInt));
    assert.deepEqual(two.c.dispatched, more.map(BigInt), 'waiters dispatched first come, first served');
    assert.equal(two.c.sessions.length, 2);
  });

  test('maxWaiters: calls beyond the connections being opened and maxWaiters fail at once (cold and warm pool)', async () => {
    const { pool, c } = makePool({ highWatermark: 2, maxWaiters: 3 });
    for (const round of ['cold', 'warm'] as const) {
      const base = round === 'cold' ? 300 : 310;
      // 2 calls take (or open) the 2 connections, 3 wait: all five must be served.
      const ok = Array.from({ length: 5 }, (_, i) => track(echo(pool, base + i, 150)));
      const over = track(echo(pool, base + 5, 0));
      const res = await outcome(over.p);
      assert.ok(!res.ok && isErr(OverloadedError, true)(res.error), `${round}: the sixth call is shed`);
      assert.ok(
        ok.every((t) => !t.settled),
        `${round}: shed at once, while the others still run`,
      );
      assert.deepEqual(
        await Promise.all(ok.map((t) => t.p)),
        [0, 1, 2, 3, 4].map((i) => BigInt(base + i)),
        `${round}: the five within bounds all succeed`,
      );
      assert.ok(!seenIds().includes(BigInt(base + 5)), `${round}: the shed call never reached the server`);
    }
    assert.equal(c.attempts, 2, 'the warm round reused the two connections');

    // maxWaiters 0 means "never queue", not "never connect".
    const zero = makePool({ highWatermark: 1, maxWaiters: 0 });
    const first = echo(zero.pool, 320, 100);
    await assert.rejects(echo(zero.pool, 321), isErr(OverloadedError, true));
    assert.equal(await first, 320n);
    assert.equal(await echo(zero.pool, 322), 322n);
  });

  test('waitTimeout: a call that waits too long fails with OverloadedError, unsent', async () => {
    const { pool } = makePool({ highWatermark: 1, waitTimeout: 100 });
    const a = track(echo(pool, 400, 800));
    const b = await outcome(echo(pool, 401));
    assert.ok(!b.ok && isErr(OverloadedError, true)(b.error));
    assert.equal(a.settled, false, 'it failed while the first call still held the connection');
    assert.equal(pool.waiters, 0);
    assert.equal(await a.p, 400n);
    assert.ok(!seenIds().includes(401n), 'the timed-out waiter was never sent');

    // A wait bound past setTimeout's range (~24.8 days) means "wait", not "fail in 1 ms".
    const patient = makePool({ highWatermark: 1, waitTimeout: 3e9 });
    const first = echo(patient.pool, 402, 100);
    assert.deepEqual(await Promise.all([first, echo(patient.pool, 403, 0, ctx(4e9))]), [402n, 403n]);
  });

  test('a deadline shorter than waitTimeout fails the waiter with TimeoutError (unwritten)', async () => {
    const { pool } = makePool({ highWatermark: 1, waitTimeout: 5000 });
    const a = track(echo(pool, 410, 800));
    const bctx = ctx(100);
    const b = await outcome(echo(pool, 411, 0, bctx));
    assert.ok(!b.ok && isErr(TimeoutError, true)(b.error));
    assert.equal(bctx.cancelled, b.error, 'the context records why it ended');
    assert.equal(a.settled, false);
    assert.equal(pool.waiters, 0);
    assert.equal(await a.p, 410n);
    await sleep(20);
    assert.ok(!seenIds().includes(411n));
  });

  test('cancel while waiting rejects at once with the reason; the waiter is gone for good', async () => {
    const { pool, c } = makePool({ highWatermark: 1 });
    const a = track(echo(pool, 420, 300));
    const bctx = ctx();
    const b = track(echo(pool, 421, 0, bctx));
    const cc = track(echo(pool, 422, 0));
    await sleep(30);
    assert.equal(pool.waiters, 2);
    const reason = new CancelledError('caller gave up');
    bctx.cancel(reason);
    const res = await outcome(b.p);
    assert.ok(!res.ok && res.error === reason, 'rejected with the cancel reason itself');
    assert.equal(a.settled, false, 'at once, not when a connection frees up');
    assert.equal(pool.waiters, 1);
    assert.equal(await a.p, 420n);
    assert.equal(await cc.p, 422n, 'the next waiter got the connection');
    await sleep(20);
    assert.deepEqual(
      seenIds().filter((i) => i >= 420n && i < 430n),
      [420n, 422n],
      'the server never saw the cancelled call',
    );
    assert.deepEqual(c.sessions[0]!.calls, [420n, 422n]);
  });

  test('a call abandoned in flight closes its connection; the next caller gets a fresh one and its own reply', async () => {
    const { pool, c } = makePool({ highWatermark: 1 });
    const actx = ctx();
    const a = track(echo(pool, 430, 400, actx));
    const b = track(echo(pool, 431, 0)); // waits behind A
    await until('A reached the server', () => seenIds().includes(430n));
    const reason = new TimeoutError('echo timed out');
    actx.cancel(reason); // what the timeout layer does at the deadline
    const res = await outcome(a.p);
    assert.ok(!res.ok && res.error === reason, 'A is freed at once with the reason');
    assert.equal(await b.p, 431n, 'B got its own reply, not the late reply to A');
    const [first, second] = c.sessions;
    assert.ok(first !== undefined && second !== undefined, 'B ran on a second connection');
    assert.deepEqual(first.calls, [430n], 'the abandoned connection was never handed to anyone');
    assert.deepEqual(second.calls, [431n]);
    assert.ok(first.closeCalled, 'the pool closed the abandoned connection');
    const peerOf = (id: bigint) => srv.seen.find((s) => s.id === id)!.peer;
    assert.notEqual(peerOf(430n), peerOf(431n), 'different TCP connections on the server side');
    await until('the abandoned connection closes (after its late reply)', () => first.status === 'closed');
    // And again with a caller that arrives after the abandonment: still not the old connection.
    assert.equal(await echo(pool, 432, 0), 432n);
    assert.equal(c.sessions.length, 2, 'the healthy second connection is reused');
    assert.deepEqual(second.calls, [431n, 432n]);
    assert.equal(pool.size, 1);
  });

  test('load: 2,000 calls from 50 callers with random delays and timeouts, high watermark 4: no reply ever crosses', async () => {
    const c = thriftConnector(() => srv.port, { whenIdle: 'session' });
    const { pool } = makePool({ highWatermark: 4, lowWatermark: 1 }, c);
    const svc = timeoutLayer().make(pool) as Service<EchoRequest, ThriftReply>;
    const total = 2000;
    let next = 0;
    let ok = 0;
    let timeouts = 0;
    let refused = 0;
    let mismatched = 0;
    const unexpected: unknown[] = [];
    const base = 100_000;
    const caller = async (): Promise<void> => {
      while (next < total) {
        const id = base + next++;
        const delay = Math.floor(Math.random() * 11);
        const timeout = 3 + Math.floor(Math.random() * 6);
        try {
          const rep = decodeEcho(await svc.call(echoRequest(id, delay), new CallContext('echo', Date.now() + timeout, undefined)));
          if (rep.id === BigInt(id) && rep.payload === `p${id}`) ok++;
          else mismatched++;
        } catch (err) {
          if (err instanceof TimeoutError) timeouts++;
          else if (err instanceof OverloadedError && err.local && err.unwritten) refused++;
          else unexpected.push(err);
        }
        await sleep(Math.floor(Math.random() * 120));
      }
    };
    await Promise.all(Array.from({ length: 50 }, caller));
    assert.equal(mismatched, 0, 'no caller ever got another call’s reply');
    assert.deepEqual(unexpected, []);
    assert.equal(ok + timeouts + refused, total);
    assert.ok(ok >= total * 0.05, `successes are common: ${ok}`);
    assert.ok(timeouts >= total * 0.05, `timeouts are common: ${timeouts}`);
    assert.equal(pool.inUse, 0);
    assert.equal(pool.waiters, 0);
    assert.ok(pool.size <= 4, `never above the high watermark: ${pool.size}`);
    // The pool's own invariant (the session's seqid matching would hide a mix-up from the check
    // above): a connection carries no new call while a reply, late or not, is owed on it. And
    // it is kept rather than cut: late replies here come within 10 ms, far below owedReplyTimeout.
    const owedSends = c.sessions.reduce((n, s) => n + s.sentWhileOwed, 0);
    assert.equal(owedSends, 0, 'no call was sent on a connection still owed a reply');
    assert.ok(c.sessions.length <= 4, `connections kept, not reopened: ${c.sessions.length} opened`);
    const maxCarried = Math.max(...c.sessions.map((s) => s.calls.length));
    assert.ok(maxCarried > 100, `connections were reused after late replies (max ${maxCarried} calls on one)`);
    console.log(`load: ${ok} ok, ${timeouts} timeouts, ${refused} refused, ${c.sessions.length} connections opened`);
  });

  test('without a whenIdle that waits for late replies, a connection an abandoned call poisoned is cut and never reused', async () => {
    const { pool, c } = makePool({ highWatermark: 1 });
    const svc = timeoutLayer().make(pool) as Service<EchoRequest, ThriftReply>;
    assert.equal(await echo(svc, 149_999, 0), 149_999n); // connected: the next call is sent at once
    await assert.rejects(echo(svc, 150_000, 300, ctx(50)), isErr(TimeoutError, false));
    assert.equal(await echo(svc, 150_001, 0), 150_001n);
    assert.equal(c.sessions.length, 2, 'a new connection for the next call');
    assert.deepEqual(c.sessions[0]!.calls, [149_999n, 150_000n], 'the abandoned call was the last its connection carried');
    assert.equal(c.sessions[0]!.aborted, true);
  });

  test('idle connections above lowWatermark close after idleTime; the low watermark stays', async () => {
    const proxy = await makeProxy();
    const c = thriftConnector(() => proxy.port);
    const idleTime = 150;
    const { pool } = makePool({ lowWatermark: 1, highWatermark: 4, idleTime }, c);
    await Promise.all([500, 501, 502, 503].map((id) => echo(pool, id, 80)));
    const idleAt = Date.now();
    assert.equal(pool.size, 4);
    assert.equal(pool.idle, 4);
    await until('shrunk to the low watermark', () => pool.size === 1);
    assert.ok(Date.now() - idleAt >= idleTime * 0.8, `not before idleTime (${Date.now() - idleAt} ms)`);
    await until('the server side sees the extra connections closed', () => proxy.live === 1);
    await sleep(idleTime * 3);
    assert.equal(pool.size, 1, 'the low watermark is kept');
    assert.equal(proxy.live, 1);
    assert.equal(await echo(pool, 504), 504n);
    assert.equal(c.attempts, 4, 'the kept connection served the next call');
    assert.equal(proxy.accepted, 4);
  });

  test('idle connections age out least recently used first; one used since gets its own idleTime', async () => {
    const idleTime = 200;
    const { pool, c } = makePool({ lowWatermark: 0, highWatermark: 4, idleTime });
    await Promise.all([510, 511, 512, 513].map((id) => echo(pool, id, 30)));
    await sleep(idleTime / 2);
    assert.equal(await echo(pool, 514), 514n, 'reuses one of the four (the most recently used)');
    assert.equal(c.sessions.length, 4);
    const recent = c.sessions.find((s) => s.calls.includes(514n))!;
    await until('all aged out (low watermark 0)', () => pool.size === 0);
    const others = c.sessions.filter((s) => s !== recent);
    assert.ok(others.every((s) => s.closeCalled) && recent.closeCalled);
    const lastOther = Math.max(...others.map((s) => s.closedAt));
    assert.ok(recent.closedAt - lastOther >= idleTime * 0.3, `the reused one closed ~${idleTime / 2} ms after the others (${recent.closedAt - lastOther} ms)`);
  });

  test('connect refused: ConnectError (unwritten), then busy and fast-fail during backoff, then recovery', async () => {
    const port = await unusedPort();
    const c = thriftConnector(() => port);
    const { pool } = makePool({ backoff: constantBackoff(800), highWatermark: 2 }, c);
    assert.equal(pool.status, 'open');
    await assert.rejects(echo(pool, 600), (err: unknown) => isErr(ConnectError, true)(err) && /refused|ECONNREFUSED/i.test((err as Error).message));
    assert.equal(c.attempts, 1);
    assert.equal(pool.status, 'busy');
    const late = await startEchoServer(port);
    try {
      // Listening now, but the backoff is not over: no connect is tried.
      await assert.rejects(echo(pool, 601), (err: unknown) => isErr(ConnectError, true)(err) && /no new connect for another/.test((err as Error).message));
      assert.equal(c.attempts, 1, 'fast fail: no connect during backoff');
      await until('backoff over', () => pool.status === 'open', 5000);
      // After failures, one probe connect at a time: three calls, one connect until it succeeds.
      const calls = [602, 603, 604].map((id) => echo(pool, id, 20));
      assert.equal(pool.size, 1, 'a single probe');
      assert.deepEqual(await Promise.all(calls), [602n, 603n, 604n]);
      assert.equal(c.attempts, 3, 'the probe, then the second connection once it succeeded');
      assert.deepEqual(new Set(late.ids()), new Set([602n, 603n, 604n]));
    } finally {
      await pool.close(100);
      await late.close(100);
    }
  });

  test('the last connection dying during backoff fails the waiters fast instead of leaving them queued', async () => {
    const proxy = await makeProxy();
    const c = thriftConnector(() => proxy.port);
    const { pool } = makePool({ highWatermark: 2, backoff: constantBackoff(2000), waitTimeout: 4000 }, c);
    const a = track(echo(pool, 650, 2000));
    await until('A on the first connection', () => seenIds().includes(650n));
    void proxy.refuse(); // new connects refused at once; A's connection stays
    const b = track(echo(pool, 651)); // opens a second connection: refused, backoff starts
    await until('second connect refused', () => c.attempts === 2 && pool.status === 'busy');
    assert.equal(b.settled, false, 'B still has A’s connection to wait for');
    proxy.dropAll(); // A's connection dies too: nothing left to serve B, and no connect allowed
    const started = Date.now();
    await assert.rejects(a.p);
    const res = await outcome(b.p);
    assert.ok(!res.ok && isErr(ConnectError, true)(res.error) && /no new connect for another/.test((res.error as Error).message), `B failed fast: ${String(!res.ok && res.error)}`);
    assert.equal(c.attempts, 2, 'no connect tried during the backoff');
    assert.ok(Date.now() - started < 1500, 'not at waitTimeout');
    assert.equal(pool.waiters, 0);
  });

  test('a connection the server closes while idle is dropped; the next call opens a new one', async () => {
    const proxy = await makeProxy();
    const c = thriftConnector(() => proxy.port);
    const { pool } = makePool({ lowWatermark: 1, highWatermark: 2 }, c);
    assert.equal(await echo(pool, 700), 700n);
    assert.equal(pool.idle, 1);
    proxy.dropAll();
    await until('client side saw the close', () => c.sessions[0]!.status === 'closed');
    // No pool getter first (they prune too): the call itself must skip the dead connection.
    assert.equal(await echo(pool, 701), 701n);
    assert.equal(proxy.accepted, 2);
    assert.deepEqual(c.sessions[0]!.calls, [700n], 'nothing was sent on the dead connection');
    assert.deepEqual(c.sessions[1]!.calls, [701n]);
    assert.equal(pool.size, 1);
    assert.equal(pool.idle, 1);

    // Dropped again: the getters see it gone too.
    proxy.dropAll();
    await until('client side saw the second close', () => c.sessions[1]!.status === 'closed');
    assert.equal(pool.idle, 0);
    assert.equal(pool.size, 0);
  });

  test('close(): waiters fail with ClosedError, in-flight calls finish within grace, then connections close', async () => {
    const proxy = await makeProxy();
    const c = thriftConnector(() => proxy.port);
    const { pool } = makePool({ highWatermark: 1 }, c);
    const a = track(echo(pool, 800, 300));
    const b = track(echo(pool, 801));
    const w = track(echo(pool, 802));
    await until('A in flight', () => seenIds().includes(800n));
    const closing = track(pool.close(5000));
    assert.equal(pool.status, 'closed');
    for (const t of [b, w]) {
      const res = await outcome(t.p);
      assert.ok(!res.ok && isErr(ClosedError, true)(res.error));
    }
    assert.equal(a.settled, false, 'waiters failed at once');
    assert.equal(await a.p, 800n, 'the in-flight call finished');
    await closing.p;
    assert.ok(c.sessions[0]!.closeCalled);
    await until('connection closed on the server side', () => proxy.live === 0);
    await assert.rejects(echo(pool, 803), isErr(ClosedError, true));
    assert.ok(!seenIds().includes(801n) && !seenIds().includes(802n) && !seenIds().includes(803n));
  });

  test('close() with a short grace cuts calls still running', async () => {
    const { pool, c } = makePool({ highWatermark: 2 });
    const a = track(echo(pool, 810, 3000));
    const b = track(echo(pool, 811, 20));
    await until('A in flight', () => seenIds().includes(810n));
    const started = Date.now();
    const closing = pool.close(100);
    assert.equal(await b.p, 811n, 'a call that ends within grace succeeds');
    const res = await outcome(a.p);
    assert.ok(!res.ok && res.error instanceof ScalesError, `the long call is cut: ${String(!res.ok && res.error)}`);
    assert.ok(Date.now() - started < 2000, `cut at the grace, not when the server replied (${Date.now() - started} ms)`);
    await closing;
    assert.ok(c.sessions.every((s) => s.closeCalled));
    assert.equal(pool.inUse, 0);
  });
});
