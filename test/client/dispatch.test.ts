// The promise-free call path through the stack (Service.dispatch): the adapter for services that
// only have `call`, and — over a real Thrift backend in its own process — that a call through the
// whole default stack makes no more promises than the serializer on a bare session does.
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { after, before, describe, test } from 'node:test';
import { callByDispatch, dispatcherOf } from '../../src/core/dispatch.js';
import { ConnectionClosedError } from '../../src/core/errors.js';
import { CallContext, type ReplyHandler, type Service } from '../../src/core/service.js';
import { Thrift, makeProtocol } from '../../src/protocols/thrift/index.js';
import { serializerLayer } from '../../src/protocols/thrift/serializer.js';
import { ThriftSession } from '../../src/protocols/thrift/session.js';
import type { ThriftCall } from '../../src/protocols/thrift/messages.js';
import { thriftFraming } from '../../src/protocols/thrift/framing.js';
import { Connection } from '../../src/transport/index.js';
import { startBackend, type Backend } from '../harness/backends.js';
import { EchoService } from '../fixtures/echo-service.js';

/** Records every outcome a handler receives, in order. */
function recorder(): ReplyHandler<unknown> & { seen: string[] } {
  const seen: string[] = [];
  return { seen, onReply: (r) => seen.push(`reply ${String(r)}`), onError: (e) => seen.push(`error ${(e as Error).message}`) };
}

const ctx = (): CallContext => new CallContext('m', undefined, undefined);

describe('dispatch adapter', () => {
  test('a service with dispatch is used as is', () => {
    const svc: Service<number, number> = {
      status: 'open',
      call: () => Promise.reject(new Error('call must not be used')),
      dispatch: (req, _ctx, h) => h.onReply(req * 2),
      close: () => Promise.resolve(),
    };
    assert.equal(dispatcherOf(svc), svc);
    const h = recorder();
    dispatcherOf(svc).dispatch(21, ctx(), h);
    assert.deepEqual(h.seen, ['reply 42']);
  });

  test('a call-only service: its resolution, rejection and synchronous throw each reach the handler once', async () => {
    const outcomes = [Promise.resolve(7), Promise.reject(new Error('refused'))];
    let n = 0;
    const svc: Service<number, number> = {
      status: 'open',
      call: () => {
        if (n === 2) throw new Error('thrown');
        return outcomes[n++]!;
      },
      close: () => Promise.resolve(),
    };
    const d = dispatcherOf(svc);
    const h = recorder();
    d.dispatch(0, ctx(), h);
    d.dispatch(0, ctx(), h);
    d.dispatch(0, ctx(), h); // throws synchronously: the handler hears it before dispatch returns
    assert.deepEqual(h.seen, ['error thrown']);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(h.seen, ['error thrown', 'reply 7', 'error refused']);
  });

  test('callByDispatch gives the handler outcome as the promise outcome', async () => {
    const ok = { dispatch: (req: number, _c: CallContext, h: ReplyHandler<number>) => h.onReply(req + 1) };
    const bad = { dispatch: (_r: number, _c: CallContext, h: ReplyHandler<number>) => h.onError(new ConnectionClosedError('gone')) };
    assert.equal(await callByDispatch(ok, 1, ctx()), 2);
    await assert.rejects(callByDispatch(bad, 1, ctx()), ConnectionClosedError);
  });
});

/** Promises created while `fn` runs, per call (fn makes `calls` calls). */
async function promisesPerCall(calls: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let promises = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'PROMISE') promises++;
    },
  });
  hook.enable();
  try {
    for (let i = 0; i < calls; i++) await fn(i);
  } finally {
    hook.disable();
  }
  return promises / calls;
}

describe('promises per call over a real Thrift backend', () => {
  let backend: Backend;
  before(async () => {
    backend = await startBackend({ protocol: 'thrift' });
  });
  after(() => backend.stop());

  test('the default stack (every role, watermark pool or pipelined) makes no more promises than the serializer on a bare session', async () => {
    const proto = makeProtocol('binary', undefined);
    const conn = await Connection.connect('127.0.0.1', backend.port, { framing: thriftFraming('framed', proto), maxFrameSize: 1 << 20 });
    const session = new ThriftSession(conn, proto);
    const bare = serializerLayer(proto).make(session) as Service<ThriftCall, unknown>;
    const method = EchoService.methods['echo']!;
    const dest = `tcp://127.0.0.1:${backend.port}`;
    const watermark = Thrift.newClient(EchoService, dest);
    const pipelined = Thrift.newClient(EchoService, dest, { poolSize: 1 });
    const withDeadline = Thrift.newClient(EchoService, dest, { timeout: 5000 });
    try {
      const bareCall = (i: number): Promise<unknown> => bare.call({ method, args: { id: BigInt(i), delayMs: 0, payload: 'p' } }, new CallContext('echo', undefined, undefined));
      // Warm every path first: the first calls connect and so make promises of their own.
      for (let i = 0; i < 20; i++) await Promise.all([bareCall(i), watermark.echo(1n, 0, 'w'), pipelined.echo(1n, 0, 'p'), withDeadline.echo(1n, 0, 'd')]);
      const base = await promisesPerCall(200, bareCall);
      const counts = {
        watermark: await promisesPerCall(200, (i) => watermark.echo(BigInt(i), 0, 'w')),
        pipelined: await promisesPerCall(200, (i) => pipelined.echo(BigInt(i), 0, 'p')),
        deadline: await promisesPerCall(200, (i) => withDeadline.echo(BigInt(i), 0, 'd')),
      };
      assert.ok(base >= 1, `the bare path makes its caller's promise (${base})`);
      // Measured before the dispatch path: 6 (pipelined), 7 (watermark) and 9 (deadline) against 3.
      for (const [name, n] of Object.entries(counts)) assert.ok(n <= base, `${name}: ${n} promises per call, bare session ${base}`);
      // Replies are still right on every path (not a count of promises that never resolved).
      assert.equal((await watermark.echo(9n, 0, 'x')).payload, 'x');
      assert.equal((await withDeadline.echo(10n, 0, 'y')).id, 10n);
    } finally {
      await Promise.all([session.close(), watermark.$close(), pipelined.$close(), withDeadline.$close()]);
    }
  });
});
