// SerialSession over real TCP with the test protocol's in-order server: replies carry no usable
// tag, each belongs to the oldest call still owed one; abandoned calls keep their place.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CancelledError, ConnectionClosedError, ProtocolError, TimeoutError } from '../../src/core/errors.js';
import { SerialSession } from '../../src/session/index.js';
import { callsUnderTimeouts, connect, ctx, settle, startTestServer, TestCodec, until, type TestReq, type TestServer } from './test-protocol.js';

let server: TestServer;
before(async () => {
  server = await startTestServer({ inOrder: true });
});
after(() => server.close());

async function open(options: { maxAbandoned?: number; maxInFlight?: number } = {}, codec = new TestCodec()): Promise<SerialSession<TestReq, string>> {
  return new SerialSession(await connect(server.port), codec, options);
}

const arrived = (...payloads: string[]): number => server.calls.filter((c) => payloads.includes(c.payload)).length;

describe('SerialSession', () => {
  test('replies match calls in order; abandoned calls in the middle keep their place and their replies are dropped', async () => {
    const s = await open();
    const names = ['hold-s1', 'hold-s2', 'hold-s3', 'hold-s4', 'hold-s5'];
    const ctxs = names.map(() => ctx());
    const results = names.map((payload, i) => settle(s.call({ payload }, ctxs[i]!)));
    await until('calls reach the server', () => arrived(...names) === 5);
    ctxs[1]!.cancel(new TimeoutError());
    ctxs[3]!.cancel(new CancelledError());
    assert.equal(s.load, 3);
    assert.equal(s.abandoned, 2);
    for (const p of ['hold-s4', 'hold-s2', 'hold-s5', 'hold-s3', 'hold-s1']) server.release(p);
    const r = await Promise.all(results);
    assert.deepEqual(
      r.map((x) => (x.ok ? x.value : (x.error as Error).name)),
      ['hold-s1', 'TimeoutError', 'hold-s3', 'CancelledError', 'hold-s5'],
    );
    await s.whenIdle();
    assert.equal(s.abandoned, 0);
    assert.equal(s.status, 'open');
    await s.close();
  });

  test('under load with timeouts every reply reaches its own caller', async () => {
    const s = await open({ maxAbandoned: 100_000 });
    const { ok, timedOut, wrong, other } = await callsUnderTimeouts(s, { calls: 2000, callers: 20, prefix: 'q', maxTimeoutMs: 4, maxDelayMs: 3 });
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} replies reached the wrong caller`);
    assert.deepEqual(other.slice(0, 3), [], 'only timeouts may fail');
    assert.ok(timedOut > 0 && ok > 0, `both outcomes must occur (ok ${ok}, timed out ${timedOut})`);
    await s.whenIdle();
    await s.close();
  });

  test('a reply when no call is waiting closes the connection; more than maxAbandoned resets it', async () => {
    const s1 = await open();
    const stray = s1.whenIdle();
    server.send('R', 0, 'unasked');
    await until('the violation closes the session', () => s1.status === 'closed');
    await stray;
    const after = await settle(s1.call({ payload: 'x' }, ctx()));
    assert.ok(!after.ok && after.error instanceof ConnectionClosedError && after.error.unwritten);

    const s2 = await open({ maxAbandoned: 1 });
    const waiting = settle(s2.call({ payload: 'hold-w' }, ctx()));
    const c1 = ctx();
    const c2 = ctx();
    const a = [settle(s2.call({ payload: 'hold-x1' }, c1)), settle(s2.call({ payload: 'hold-x2' }, c2))];
    c1.cancel(new CancelledError());
    assert.equal(s2.status, 'open');
    c2.cancel(new CancelledError());
    assert.equal(s2.status, 'closed');
    await Promise.all(a);
    const w = await waiting;
    assert.ok(!w.ok && w.error instanceof ConnectionClosedError && w.error.cause instanceof ProtocolError);
    for (const p of ['hold-w', 'hold-x1', 'hold-x2']) server.release(p);
  });

  test('a ping between replies is answered by the codec and reaches no caller', async () => {
    const codec = new TestCodec();
    const s = await open({}, codec);
    const pongsBefore = server.pongs.length;
    const a = s.call({ payload: 'hold-pa' }, ctx());
    const b = s.call({ payload: 'hold-pb' }, ctx());
    await until('calls reach the server', () => arrived('hold-pa', 'hold-pb') === 2);
    server.release('hold-pa');
    assert.equal(await a, 'hold-pa');
    server.send('P', 1, 'serial-ping');
    await until('the pong', () => server.pongs.length === pongsBefore + 1);
    server.release('hold-pb');
    assert.equal(await b, 'hold-pb');
    assert.equal(codec.pings, 1);
    await s.close();
  });

  test('the ring grows past its first size without losing the order', async () => {
    const s = await open();
    const payloads = Array.from({ length: 100 }, (_, i) => `g${i}`);
    const replies = await Promise.all(payloads.map((payload) => s.call({ payload }, ctx())));
    assert.deepEqual(replies, payloads);
    await s.close();
  });
});
