// MultiplexedSession over real TCP with the test protocol (test-protocol.ts): tag matching, the
// abandoned-call guard, limits, fail-all, handler bugs, Mux-style tags, whenIdle, drain, control
// messages answered by the codec.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CancelledError, ConnectionClosedError, OverloadedError, ProtocolError, TimeoutError } from '../../src/core/errors.js';
import type { ReplyHandler } from '../../src/core/service.js';
import { MultiplexedSession } from '../../src/session/index.js';
import { callsUnderTimeouts, catchingMicrotaskThrows, connect, ctx, MUX_TAGS, settle, sleep, startTestServer, TestCodec, until, type TestReq, type TestServer } from './test-protocol.js';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

async function open(codec = new TestCodec(), options: { maxAbandoned?: number; maxInFlight?: number } = {}): Promise<MultiplexedSession<TestReq, string>> {
  return new MultiplexedSession(await connect(server.port), codec, options);
}

/** The tags the server saw for these payloads, in arrival order. */
const tagsOf = (...payloads: string[]): number[] => server.calls.filter((c) => payloads.includes(c.payload)).map((c) => c.tag);

describe('MultiplexedSession', () => {
  // The guard against the Scales bug. Mutation-checked: freeing the tag when a call is abandoned
  // (instead of when its late reply is read) makes this fail with misrouted replies.
  for (const codec of [() => new TestCodec(), () => new TestCodec(MUX_TAGS, true)]) {
    test(`abandoned calls never get a late reply misrouted under tag reuse (${codec().tags.order} order)`, async () => {
      const s = await open(codec(), { maxAbandoned: 100_000 });
      const CALLS = 4000;
      const { ok, timedOut, wrong, other } = await callsUnderTimeouts(s, { calls: CALLS, callers: 50, prefix: 'p', maxTimeoutMs: 6, maxDelayMs: 8 });
      assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} replies reached the wrong caller`);
      assert.deepEqual(other.slice(0, 3), [], 'only timeouts may fail');
      assert.ok(timedOut > CALLS / 50 && ok > CALLS / 50, `both outcomes must be common (ok ${ok}, timed out ${timedOut})`);
      await s.whenIdle(); // every late reply read and dropped: nothing left owed
      assert.equal(s.abandoned, 0);
      assert.equal(s.status, 'open');
      await s.close();
    });
  }

  test('more than maxAbandoned unanswered abandoned calls reset the connection; the rest fail typed', async () => {
    const s = await open(new TestCodec(), { maxAbandoned: 3 });
    const waiting = settle(s.call({ payload: 'hold-waiting' }, ctx()));
    const ctxs = [ctx(), ctx(), ctx(), ctx()];
    const abandoned = ctxs.map((c, i) => settle(s.call({ payload: `hold-a${i}` }, c)));
    await until('calls reach the server', () => tagsOf('hold-a3').length === 1);
    for (const c of ctxs.slice(0, 3)) c.cancel(new CancelledError());
    assert.equal(s.abandoned, 3);
    assert.equal(s.status, 'open', 'at the limit the connection stays');
    ctxs[3]!.cancel(new CancelledError());
    assert.equal(s.status, 'closed');
    for (const r of await Promise.all(abandoned)) assert.ok(!r.ok && r.error instanceof CancelledError);
    const w = await waiting;
    assert.ok(!w.ok && w.error instanceof ConnectionClosedError, 'the waiting call fails with ConnectionClosedError');
    assert.ok((w.error as ConnectionClosedError).cause instanceof ProtocolError, 'caused by the reset');
    assert.equal(s.load, 0);
    assert.equal(s.abandoned, 0);
  });

  test('a reply for a tag no call holds closes the connection and fails every pending call', async () => {
    const s = await open();
    const pending = [1, 2, 3].map((i) => settle(s.call({ payload: `hold-f${i}` }, ctx())));
    await until('calls reach the server', () => tagsOf('hold-f1', 'hold-f2', 'hold-f3').length === 3);
    server.send('R', 999, 'nobody asked');
    for (const r of await Promise.all(pending)) {
      assert.ok(!r.ok && r.error instanceof ConnectionClosedError);
      assert.match(String((r.error as Error).message), /reply for tag 999 that no call is waiting for/);
      assert.ok((r.error as ConnectionClosedError).cause instanceof ProtocolError);
    }
    const late = await settle(s.call({ payload: 'after' }, ctx()));
    assert.ok(!late.ok && late.error instanceof ConnectionClosedError && late.error.unwritten, 'a call after the close is refused, unwritten');
  });

  test('the peer closing fails pending calls with ConnectionClosedError; whenIdle resolves', async () => {
    const s = await open();
    const pending = [1, 2].map((i) => settle(s.call({ payload: `hold-c${i}` }, ctx())));
    await until('calls reach the server', () => tagsOf('hold-c1', 'hold-c2').length === 2);
    const idle = s.whenIdle();
    server.conns[server.conns.length - 1]!.close();
    for (const r of await Promise.all(pending)) assert.ok(!r.ok && r.error instanceof ConnectionClosedError);
    await idle;
    assert.equal(s.status, 'closed');
  });

  test('a handler that throws does not stop the session: the bug surfaces outside, later replies still arrive', async () => {
    const s = await open();
    const thrown = await catchingMicrotaskThrows(async () => {
      const seen: string[] = [];
      const bad: ReplyHandler<string> = {
        onReply: () => {
          throw new Error('handler bug');
        },
        onError: () => {
          throw new Error('handler bug on error');
        },
      };
      s.dispatch({ payload: 'boom', delayMs: 0 }, ctx(), bad);
      const good = s.call({ payload: 'fine', delayMs: 5 }, ctx());
      seen.push(await good);
      const c = ctx();
      s.dispatch({ payload: 'hold-bad-cancel' }, c, bad);
      c.cancel(new CancelledError());
      assert.deepEqual(seen, ['fine']);
      assert.equal(await s.call({ payload: 'still fine' }, ctx()), 'still fine');
      server.release('hold-bad-cancel');
      await s.whenIdle();
    });
    assert.deepEqual(
      thrown.map((e) => (e as Error).message),
      ['handler bug', 'handler bug on error'],
    );
    assert.equal(s.status, 'open');
    await s.close();
  });

  test('Mux-style tags: smallest free first, an abandoned call keeps its tag until its late reply', async () => {
    const codec = new TestCodec(MUX_TAGS, true);
    const s = await open(codec);
    const discardsBefore = server.discards.length;
    const a = s.call({ payload: 'hold-t1' }, ctx());
    const bCtx = ctx();
    const b = settle(s.call({ payload: 'hold-t2' }, bCtx));
    const c = s.call({ payload: 'hold-t3' }, ctx());
    await until('three calls', () => tagsOf('hold-t1', 'hold-t2', 'hold-t3').length === 3);
    assert.deepEqual(tagsOf('hold-t1', 'hold-t2', 'hold-t3'), [2, 3, 4]);
    server.release('hold-t1');
    assert.equal(await a, 'hold-t1');
    bCtx.cancel(new TimeoutError()); // tag 3 abandoned: the server is told, the tag stays held
    assert.ok(!(await b).ok);
    await until('the discard reaches the server', () => server.discards.length === discardsBefore + 1);
    assert.deepEqual(server.discards.slice(discardsBefore), [3]);
    const d = s.call({ payload: 'hold-t4' }, ctx()); // 2 is free, 3 is not
    const e = s.call({ payload: 'hold-t5' }, ctx());
    await until('two more calls', () => tagsOf('hold-t4', 'hold-t5').length === 2);
    assert.deepEqual(tagsOf('hold-t4', 'hold-t5'), [2, 5]);
    assert.equal(s.load, 3, 't3, t4, t5: the abandoned call is not load');
    assert.equal(s.abandoned, 1);
    server.release('hold-t2'); // the late reply for tag 3: read and dropped, tag 3 free again
    await until('the late reply is dropped', () => s.abandoned === 0);
    const f = s.call({ payload: 'hold-t6' }, ctx());
    await until('the sixth call', () => tagsOf('hold-t6').length === 1);
    assert.deepEqual(tagsOf('hold-t6'), [3]);
    for (const p of ['hold-t3', 'hold-t4', 'hold-t5', 'hold-t6']) server.release(p);
    assert.deepEqual(await Promise.all([c, d, e, f]), ['hold-t3', 'hold-t4', 'hold-t5', 'hold-t6']);
    await s.close();
  });

  test('whenIdle waits for abandoned calls too, and resolves at once when idle', async () => {
    const s = await open();
    await s.whenIdle();
    const c1 = ctx();
    const abandoned = settle(s.call({ payload: 'hold-i1' }, c1));
    const live = s.call({ payload: 'hold-i2' }, ctx());
    let idle = false;
    const whenIdle = s.whenIdle().then(() => (idle = true));
    await until('calls reach the server', () => tagsOf('hold-i1', 'hold-i2').length === 2);
    c1.cancel(new TimeoutError());
    await abandoned;
    server.release('hold-i2');
    assert.equal(await live, 'hold-i2');
    await sleep(20);
    assert.equal(idle, false, 'the abandoned call is still owed its reply');
    assert.equal(s.load, 0);
    server.release('hold-i1');
    await whenIdle;
    assert.equal(s.abandoned, 0);
    await s.close();
  });

  test('a ping is answered by the codec and reaches no caller; Rerr-style failures fail only their call', async () => {
    const codec = new TestCodec(MUX_TAGS);
    const s = await open(codec);
    const a = s.call({ payload: 'hold-p1' }, ctx());
    const b = settle(s.call({ payload: 'hold-p2' }, ctx()));
    await until('calls reach the server', () => tagsOf('hold-p1', 'hold-p2').length === 2);
    server.send('P', 1, 'ping-1');
    await until('the pong', () => server.pongs.length === 1);
    assert.deepEqual(server.pongs, ['ping-1']);
    assert.equal(codec.pings, 1);
    server.send('E', 3, 'no such thing');
    const rb = await b;
    assert.ok(!rb.ok && rb.error instanceof ProtocolError && /no such thing/.test(rb.error.message));
    server.release('hold-p1');
    assert.equal(await a, 'hold-p1', 'the other call is untouched');
    assert.equal(s.status, 'open');
    await s.close();
  });

  test('drain: no new calls (unwritten, status closed), in-flight ones finish, then the connection ends', async () => {
    const s = await open();
    const inFlight = s.call({ payload: 'hold-d1' }, ctx());
    await until('the call reaches the server', () => tagsOf('hold-d1').length === 1);
    server.send('D', 1, '');
    await until('draining', () => s.status === 'closed');
    const refused = await settle(s.call({ payload: 'new' }, ctx()));
    assert.ok(!refused.ok && refused.error instanceof ConnectionClosedError && refused.error.unwritten);
    server.release('hold-d1');
    assert.equal(await inFlight, 'hold-d1');
    await s.close(); // already ending: resolves once the peer closed too
  });

  test('a lease that ran out makes the session busy until the next one', async () => {
    const s = await open();
    server.send('L', 1, '0');
    await until('the lease runs out', () => s.status === 'busy');
    server.send('L', 1, '60000');
    await until('a new lease', () => s.status === 'open');
    await s.close();
  });

  test('maxInFlight: more calls fail with OverloadedError (unwritten); oneway calls take no tag', async () => {
    const s = await open(new TestCodec(), { maxInFlight: 2 });
    const held = [s.call({ payload: 'hold-m1' }, ctx()), s.call({ payload: 'hold-m2' }, ctx())];
    const over = await settle(s.call({ payload: 'm3' }, ctx()));
    assert.ok(!over.ok && over.error instanceof OverloadedError && over.error.unwritten);
    assert.equal(await s.call({ payload: 'fire', oneway: true }, ctx()), '');
    await until('calls reach the server', () => tagsOf('hold-m1', 'hold-m2').length === 2);
    server.release('hold-m1');
    server.release('hold-m2');
    assert.deepEqual(await Promise.all(held), ['hold-m1', 'hold-m2']);
    await s.close();
  });
});
