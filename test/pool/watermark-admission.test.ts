// Admission under overload in the watermark pool, over real TCP to a Scales Thrift echo server:
// a standing queue serves its newest waiter first, a waiter that cannot finish before its
// deadline is refused instead of sent, and a connection owing an abandoned call's late reply is
// kept (out of service until the reply has come) instead of being cut.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OverloadedError, TimeoutError } from '../../src/core/errors.js';
import type { Service } from '../../src/core/service.js';
import { WatermarkPool, type WatermarkPoolOptions } from '../../src/pool/watermark.js';
import type { ThriftReply } from '../../src/protocols/thrift/messages.js';
import { timeoutLayer } from '../../src/resilience/timeout.js';
import { ctx, echo, isErr, sleep, startEchoServer, thriftConnector, type EchoRequest, type EchoServer, type TrackedConnector } from './session-factory.js';

type Pool = WatermarkPool<EchoRequest, ThriftReply>;

describe('watermark pool admission', () => {
  let srv: EchoServer;
  const pools: Pool[] = [];
  const makePool = (opts: WatermarkPoolOptions, c: TrackedConnector = thriftConnector(() => srv.port, { whenIdle: 'session' })): { pool: Pool; c: TrackedConnector } => {
    const pool = new WatermarkPool(c.connect, { endpoint: 'echo', ...opts });
    pools.push(pool);
    return { pool, c };
  };
  const served = (from: bigint, to: bigint): bigint[] => srv.ids().filter((i) => i >= from && i < to);

  before(async () => {
    srv = await startEchoServer();
  });
  after(async () => {
    for (const p of pools) await p.close(200);
    await srv.close(500);
  });

  test('a queue that has stood for lifoAfter serves its newest waiter first', async () => {
    const { pool } = makePool({ highWatermark: 1, admission: { lifoAfter: 10 } });
    await echo(pool, 99, 0); // the connection is open: the next call takes it at once
    const first = echo(pool, 100, 80); // holds the only connection for 80 ms
    await sleep(5);
    const waiting = [101, 102, 103, 104].map((id) => echo(pool, id, 0));
    await Promise.all([first, ...waiting]);
    assert.deepEqual(served(100n, 110n), [100n, 104n, 103n, 102n, 101n], 'newest first once the queue stood');
  });

  test('once the queue has emptied, a short queue is first come, first served again', async () => {
    const { pool } = makePool({ highWatermark: 1, admission: { lifoAfter: 50 } });
    await echo(pool, 199, 0);
    // A queue standing for 100 ms: newest first.
    const holder = echo(pool, 200, 100);
    await sleep(5);
    await Promise.all([holder, ...[201, 202, 203].map((id) => echo(pool, id, 0))]);
    assert.deepEqual(served(200n, 210n), [200n, 203n, 202n, 201n]);
    // Then it emptied; this one stands ~30 ms only: arrival order.
    await Promise.all([210, 211, 212, 213].map((id) => echo(pool, id, 10)));
    assert.deepEqual(served(210n, 220n), [210n, 211n, 212n, 213n]);
  });

  test('a waiter whose deadline is nearer than the time calls take is refused, not sent', async () => {
    const { pool } = makePool({ highWatermark: 1 });
    // Calls here take ~150 ms: the pool learns it from the replies.
    for (const id of [300, 301, 302]) await echo(pool, id, 150);
    const busy = echo(pool, 303, 150);
    await sleep(5);
    // Frees at ~150 ms: the first has ~50 ms left then (hopeless), the second ~850 ms.
    const hopeless = echo(pool, 304, 150, ctx(200));
    const fine = echo(pool, 305, 150, ctx(1000));
    await assert.rejects(hopeless, (err: unknown) => {
      isErr(OverloadedError, true)(err);
      assert.equal((err as OverloadedError).local, true, 'refused by the pool itself');
      assert.match((err as Error).message, /ms left before its deadline, calls there take ~1\d\d ms/);
      return true;
    });
    assert.equal(await busy, 303n);
    assert.equal(await fine, 305n);
    assert.deepEqual(served(300n, 310n), [300n, 301n, 302n, 303n, 305n], 'the refused call never reached the server');
  });

  test('shedHopeless: false sends it anyway (and it times out in the queue or in flight)', async () => {
    const { pool } = makePool({ highWatermark: 1, admission: { shedHopeless: false, lifoAfter: Infinity } });
    const svc = timeoutLayer().make(pool) as Service<EchoRequest, ThriftReply>;
    for (const id of [400, 401]) await echo(pool, id, 150);
    const busy = echo(pool, 402, 150);
    await sleep(5);
    // Frees at ~150 ms with ~100 ms left, less than a call takes: sent anyway, it times out in flight.
    await assert.rejects(echo(svc, 403, 150, ctx(250)), isErr(TimeoutError, false));
    await busy;
    assert.ok(served(400n, 410n).includes(403n), 'the call was sent although it could not make it');
  });

  test('a connection owing a late reply is kept out of service until it arrives, then reused', async () => {
    const c = thriftConnector(() => srv.port, { whenIdle: 'session' });
    const { pool } = makePool({ highWatermark: 1 }, c);
    const svc = timeoutLayer().make(pool) as Service<EchoRequest, ThriftReply>;
    assert.equal(await echo(svc, 499, 0), 499n); // connected: the next call is sent at once
    await assert.rejects(echo(svc, 500, 300, ctx(50)), isErr(TimeoutError, false));
    const start = Date.now();
    assert.equal(await echo(svc, 501, 0), 501n);
    const waited = Date.now() - start;
    assert.ok(waited >= 150, `the next call waited for the late reply (${waited} ms)`);
    assert.equal(c.sessions.length, 1, 'no reconnect');
    assert.equal(c.sessions[0]!.sentWhileOwed, 0, 'never sent while the late reply was owed');
    assert.equal(c.sessions[0]!.aborted, false);
  });

  test('owedReplyTimeout: a late reply that does not come in time costs the connection', async () => {
    const c = thriftConnector(() => srv.port, { whenIdle: 'session' });
    const { pool } = makePool({ highWatermark: 1, owedReplyTimeout: 100 }, c);
    const svc = timeoutLayer().make(pool) as Service<EchoRequest, ThriftReply>;
    assert.equal(await echo(svc, 599, 0), 599n);
    await assert.rejects(echo(svc, 600, 3000, ctx(50)), isErr(TimeoutError, false));
    const start = Date.now();
    assert.equal(await echo(svc, 601, 0), 601n);
    const waited = Date.now() - start;
    assert.ok(waited >= 60 && waited < 2500, `served on a new connection after the owed-reply timeout (${waited} ms)`);
    assert.equal(c.sessions.length, 2);
    assert.equal(c.sessions[0]!.aborted, true, 'the owing connection was cut');
    assert.equal(c.sessions[1]!.sentWhileOwed, 0);
  });
});
