// The three pools over the shared base, with a fake connection the test answers by hand (pure
// logic: what the pool hands to whom, not I/O): an expired waiter is never handed a connection,
// many waiters share one timer, and the drain follows completions, not a clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClosedError, TimeoutError } from '../../src/core/errors.js';
import { CallContext, type ReplyHandler, type Status } from '../../src/core/service.js';
import { PipelinePool } from '../../src/pool/pipeline.js';
import { SingletonPool } from '../../src/pool/singleton.js';
import type { PooledConnection } from '../../src/pool/types.js';
import { WatermarkPool } from '../../src/pool/watermark.js';
import { outcome, track } from './session-factory.js';

/** A connection whose calls stay pending until the test answers them. */
class FakeConn implements PooledConnection<string, string> {
  readonly received: string[] = [];
  private readonly pending: { req: string; handler: ReplyHandler<string> }[] = [];
  status: Status = 'open';
  closed = false;
  aborted = false;

  get load(): number {
    return this.pending.length;
  }

  call(): Promise<string> {
    return Promise.reject(new Error('the pools dispatch'));
  }

  dispatch(req: string, ctx: CallContext, handler: ReplyHandler<string>): void {
    this.received.push(req);
    const p = { req, handler };
    this.pending.push(p);
    // Like a session: a cancelled call is abandoned (the caller hears at once).
    ctx.onCancel((reason) => {
      this.pending.splice(this.pending.indexOf(p), 1);
      handler.onError(reason);
    });
  }

  /** Answers the oldest pending call, synchronously. */
  answer(): void {
    const p = this.pending.shift()!;
    p.handler.onReply(`re:${p.req}`);
  }

  close(): Promise<void> {
    this.closed = true;
    this.status = 'closed';
    return Promise.resolve();
  }

  abort(): void {
    this.aborted = true;
    this.status = 'closed';
    for (const p of this.pending.splice(0)) p.handler.onError(new ClosedError('cut'));
  }
}

/** A connection that also offers whenIdle(). */
class IdleFakeConn extends FakeConn {
  idleAsked = 0;
  private wake: (() => void)[] = [];
  override answer(): void {
    super.answer();
    if (this.load === 0) for (const f of this.wake.splice(0)) f();
  }
  whenIdle(): Promise<void> {
    this.idleAsked++;
    return this.load === 0 ? Promise.resolve() : new Promise((r) => this.wake.push(r));
  }
}

/** A connector the test resolves by hand. */
function manualConnector<C extends FakeConn>(make: () => C): { connect: () => Promise<C>; conns: C[]; land(): void } {
  const resolvers: (() => void)[] = [];
  const conns: C[] = [];
  return {
    conns,
    connect: () =>
      new Promise<C>((resolve) => {
        resolvers.push(() => {
          const c = make();
          conns.push(c);
          resolve(c);
        });
      }),
    land: () => resolvers.shift()!(),
  };
}

const ctx = (timeoutMs?: number): CallContext => CallContext.expiring('m', timeoutMs, undefined, undefined);
const block = (ms: number): void => {
  const stop = performance.now() + ms;
  while (performance.now() < stop);
};
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('pools on the shared base (fake connections)', () => {
  test('watermark: a waiter whose deadline passed while the loop was busy is never handed the freed connection', async () => {
    const c = manualConnector(() => new FakeConn());
    const pool = new WatermarkPool<string, string>(c.connect, { highWatermark: 1 });
    const a = pool.call('A', ctx());
    c.land();
    await tick();
    const b = track(pool.call('B', ctx(5)));
    const d = pool.call('D', ctx());
    block(15); // B's deadline passes; its timer cannot run
    c.conns[0]!.answer(); // A ends: the connection is handed on right now, synchronously
    assert.equal(await a, 're:A');
    const res = await outcome(b.p);
    assert.ok(!res.ok && res.error instanceof TimeoutError && res.error.unwritten, `B: ${String(!res.ok && res.error)}`);
    assert.deepEqual(c.conns[0]!.received, ['A', 'D'], 'B was skipped, D got the connection');
    c.conns[0]!.answer();
    assert.equal(await d, 're:D');
    await pool.close(0);
  });

  test('singleton and pipeline: a waiter whose deadline passed before the connect landed is not sent', async () => {
    for (const kind of ['singleton', 'pipeline'] as const) {
      const c = manualConnector(() => new FakeConn());
      const pool = kind === 'singleton' ? new SingletonPool<string, string>(c.connect) : new PipelinePool<string, string>(c.connect);
      const b = track(pool.call('B', ctx(5)));
      const d = track(pool.call('D', ctx()));
      block(15);
      c.land(); // the waiters are served in the connect's reaction, before any timer can run
      const res = await outcome(b.p);
      assert.ok(!res.ok && res.error instanceof TimeoutError, `${kind} B: ${String(!res.ok && res.error)}`);
      assert.deepEqual(c.conns[0]!.received, ['D'], kind);
      c.conns[0]!.answer();
      assert.equal(await d.p, 're:D');
      await pool.close(0);
    }
  });

  test('many waiters, one timer: 300 calls queue with one setTimeout between them (each pool)', async () => {
    const real = globalThis.setTimeout;
    for (const kind of ['watermark', 'singleton', 'pipeline'] as const) {
      const c = manualConnector(() => new FakeConn());
      const pool =
        kind === 'watermark'
          ? new WatermarkPool<string, string>(c.connect, { highWatermark: 1 })
          : kind === 'singleton'
            ? new SingletonPool<string, string>(c.connect)
            : new PipelinePool<string, string>(c.connect);
      let timers = 0;
      globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
        timers++;
        return real(...args);
      }) as typeof setTimeout;
      const calls: Promise<unknown>[] = [];
      try {
        for (let i = 0; i < 300; i++) calls.push(outcome(pool.call(`c${i}`, ctx(60_000))));
      } finally {
        globalThis.setTimeout = real;
      }
      assert.equal(pool.waiters, 300, kind);
      assert.equal(timers, 1, `${kind}: setTimeout calls for 300 waiters`);
      await pool.close(0);
      await Promise.all(calls);
    }
  });

  test('close(grace) follows completions: the connection closes in the reaction to the last reply', async () => {
    for (const kind of ['watermark', 'singleton', 'singleton+whenIdle', 'pipeline', 'pipeline+whenIdle'] as const) {
      const c = manualConnector(() => (kind.endsWith('whenIdle') ? new IdleFakeConn() : new FakeConn()));
      const pool =
        kind === 'watermark'
          ? new WatermarkPool<string, string>(c.connect, { highWatermark: 2 })
          : kind.startsWith('singleton')
            ? new SingletonPool<string, string>(c.connect)
            : new PipelinePool<string, string>(c.connect);
      const a = pool.call('A', ctx());
      const b = pool.call('B', ctx());
      c.land();
      if (kind === 'watermark') c.land();
      await tick();
      const conns = c.conns;
      const closing = track(pool.close(60_000));
      const waiter = await outcome(pool.call('late', ctx()));
      assert.ok(!waiter.ok && waiter.error instanceof ClosedError && waiter.error.unwritten, `${kind}: no call after close`);
      conns[0]!.answer();
      await tick();
      assert.equal(closing.settled, false, `${kind}: one call still in flight`);
      assert.ok(
        conns.every((x) => !x.aborted),
        kind,
      );
      (conns[1] ?? conns[0]!).answer();
      assert.deepEqual([await a, await b], ['re:A', 're:B']);
      await tick(); // no timer: only the reactions to the last reply
      assert.equal(closing.settled, true, `${kind}: close resolved right after the last call ended`);
      assert.ok(
        conns.every((x) => x.closed && !x.aborted),
        `${kind}: closed gracefully`,
      );
      if (kind.endsWith('whenIdle')) assert.equal((conns[0] as IdleFakeConn).idleAsked, 1, `${kind}: asked the connection, did not count`);
    }
  });

  test('close(grace): calls still running at the grace are cut (abort), and close resolves then', async () => {
    for (const kind of ['watermark', 'singleton', 'pipeline'] as const) {
      const c = manualConnector(() => new IdleFakeConn());
      const pool =
        kind === 'watermark' ? new WatermarkPool<string, string>(c.connect) : kind === 'singleton' ? new SingletonPool<string, string>(c.connect) : new PipelinePool<string, string>(c.connect);
      const a = outcome(pool.call('A', ctx()));
      c.land();
      await tick();
      const t0 = performance.now();
      await pool.close(40);
      const took = performance.now() - t0;
      assert.ok(took >= 35 && took < 1000, `${kind}: close took ${took.toFixed(1)} ms (grace 40)`);
      const res = await a;
      assert.ok(!res.ok && res.error instanceof ClosedError, `${kind}: the running call failed: ${String(!res.ok && res.error)}`);
      assert.ok(c.conns[0]!.aborted, `${kind}: cut, not ended`);
    }
  });
});
