// Our ZeroRPC client against our server, over our own ZMTP and over the zeromq binding (libzmq).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CancelledError, TimeoutError } from '../../src/core/errors.js';
import type { ReplyHandler, ServerRequest, ServerRequestContext } from '../../src/index.js';
import {
  currentContext,
  LostRemoteError,
  NamedError,
  RemoteError,
  ServerFilter,
  serverLayer,
  stream,
  TraceId,
  withContextValue,
  ZeroRpc,
  type ServerCallContext,
  type ZeroClientOptions,
  type ZeroServer,
  type ZeroServerOptions,
} from '../../src/protocols/zerorpc/index.js';
import { Calc, type CalcApi } from './calc.js';
import { sleep, until } from '../harness/wait.js';

/**
 * Every pairing of the two transports: ours on both ends, each of ours against libzmq (the zeromq
 * binding) through the whole stack, and the binding on both ends.
 */
const COMBOS = [
  ['zmtp', 'zmtp'],
  ['zeromq', 'zmtp'],
  ['zmtp', 'zeromq'],
  ['zeromq', 'zeromq'],
] as const;

for (const [clientTransport, serverTransport] of COMBOS) {
  describe(`ZeroRPC: our client (${clientTransport}) and our server (${serverTransport})`, () => {
    const serveOn = (h: object, o: ZeroServerOptions) => ZeroRpc.serve(h, { ...o, transport: serverTransport });
    const clientOn = <T = Record<string, (...args: unknown[]) => unknown>>(dest: string, o: ZeroClientOptions = {}) => ZeroRpc.newClient<T>(dest, { ...o, transport: clientTransport });
    let calc: Calc;
    let server: ZeroServer;
    before(async () => {
      calc = new Calc();
      server = await serveOn(calc, { bind: 'tcp://127.0.0.1:*', heartbeat: 250, quiet: true });
    });
    after(() => server.close(100));

    it('calls, defaults, typed remote errors, unknown methods, arity, introspection', async () => {
      const c = clientOn<CalcApi>(server.endpoints[0]!);
      assert.equal(await c.add(1, 2), 3);
      assert.equal(await c.add(40), 42);
      assert.deepEqual(await c.echo({ a: [1, 'x', Buffer.from('y')] }), { a: [1, 'x', Buffer.from('y')] });
      const err = await c.boom().catch((e: unknown) => e);
      assert.ok(err instanceof RemoteError);
      assert.equal(err.remoteName, 'ValueError');
      assert.equal(err.message, 'ValueError: bad thing');
      assert.equal(err.remoteTraceback, 'ValueError: bad thing\n', 'no stack unless the server opts in');
      const unknown = await c.$call('nosuch', [1]).catch((e: unknown) => e);
      assert.ok(unknown instanceof RemoteError && unknown.remoteName === 'NameError' && unknown.remoteMessage === 'nosuch');
      const arity = await c.$call('add', [1, 2, 3]).catch((e: unknown) => e);
      assert.ok(arity instanceof RemoteError && arity.remoteName === 'TypeError');
      assert.equal(arity.remoteMessage, 'Calc.add() takes from 1 to 2 positional arguments but 3 were given');
      assert.deepEqual(await c.$call('_zerorpc_list'), ['add', 'boom', 'count', 'echo', 'forever', 'slow']);
      assert.deepEqual(await c.$call('_zerorpc_args', ['add']), [['a', 'b'], null, null, [2]]);
      assert.deepEqual(await c.$call('_zerorpc_args', ['slow']), [['ms'], null, null, null], 'the context parameter is not a remote argument');
      await c.$close();
    });

    it('the untyped proxy calls anything; the client is not a thenable', async () => {
      const c = clientOn(server.endpoints[0]!);
      assert.equal(await c.add(2, 3), 5);
      const same = await Promise.resolve(c);
      assert.equal(same, c);
      // A method is made once, then kept on the client (read again, not rebuilt); \$-names are
      // the control surface only, and methods named like Object.prototype's are remote too.
      assert.equal(c.add, c.add);
      assert.equal(await c.add(4, 5), 9);
      assert.equal((c as Record<string, unknown>)['$nosuch'], undefined);
      assert.equal(typeof c.toString, 'function');
      const err = (await (c.toString as unknown as () => Promise<unknown>)().catch((e: unknown) => e)) as Error;
      assert.match(err.message, /toString/);
      // $with's client has its own options and its own methods.
      const other = c.$with({ timeout: 1000 });
      assert.notEqual(other.add, c.add);
      assert.equal(await other.add(1, 1), 2);
      // A frozen client still calls (its methods are then made on each read).
      const frozen = Object.freeze(c.$with({}));
      assert.equal(await frozen.add(2, 2), 4);
      await c.$close();
    });

    it('tracebacks are sent when the server opts in', async () => {
      const s = await serveOn(new Calc(), { bind: 'tcp://127.0.0.1:*', tracebacks: true, quiet: true });
      const c = clientOn<CalcApi>(s.endpoints[0]!);
      const err = (await c.boom().catch((e: unknown) => e)) as RemoteError;
      assert.match(err.remoteTraceback, /ValueError: bad thing\n\s+at /);
      await c.$close();
      await s.close(100);
    });

    it('streams of 0, 1 and 100,000 items', async () => {
      const c = clientOn<CalcApi>(server.endpoints[0]!);
      assert.deepEqual(await (await c.count(0)).toArray(), []);
      assert.deepEqual(await (await c.count(1)).toArray(), [0]);
      let n = 0;
      let sum = 0;
      for await (const x of await c.count(100_000)) {
        assert.equal(x, n);
        n++;
        sum += x;
      }
      assert.equal(n, 100_000);
      assert.equal(sum, (100_000 * 99_999) / 2);
      await c.$close();
    });

    it('a slow consumer makes the server wait: it never runs more than the granted credit ahead', async () => {
      let produced = 0;
      const s = await serveOn(
        {
          numbers: stream(async function* () {
            for (let i = 0; i < 10_000; i++) {
              produced++;
              yield i;
            }
          }),
        },
        { bind: 'tcp://127.0.0.1:*', quiet: true },
      );
      const c = clientOn(s.endpoints[0]!);
      const it = (await c.numbers()) as AsyncIterator<number>;
      for (let i = 0; i < 10; i++) assert.equal((await it.next()).value, i);
      await sleep(300);
      // 1 free event + one grant of 100: the generator is at most one item beyond what was sent.
      assert.ok(produced <= 102, `the server produced ${produced} items for a consumer that took 10`);
      for (let i = 10; i < 200; i++) assert.equal((await it.next()).value, i);
      await sleep(300);
      assert.ok(produced <= 302, `produced ${produced} after 200 taken`);
      await it.return!();
      await c.$close();
      await s.close(100);
    });

    it('a timeout fails the call (covering the first reply only); the late reply is dropped', async () => {
      const c = clientOn<CalcApi>(server.endpoints[0]!, { timeout: 100, heartbeat: 250 });
      const started = performance.now();
      const err = await c.slow(400).catch((e: unknown) => e);
      assert.ok(err instanceof TimeoutError, String(err));
      assert.ok(performance.now() - started < 350);
      // A stream slower than the timeout in total is fine: only its first item is timed.
      const s = await c.$with({ timeout: 200 }).forever();
      let got = 0;
      for await (const _ of s) if (++got === 300) break;
      assert.equal(got, 300);
      await sleep(400);
      assert.equal(await c.add(1, 1), 2);
      await c.$close();
    });

    it('an AbortSignal cancels a call at once', async () => {
      const c = clientOn<CalcApi>(server.endpoints[0]!, { heartbeat: 250 });
      const ac = new AbortController();
      // Aborted once the server runs it (a loaded machine may take longer than any fixed delay to
      // connect and deliver), and long enough that the abort comes before it would finish.
      const p = c.$with({ signal: ac.signal }).slow(20_000);
      await until('the server to start slow(20000)', () => calc.events.includes('slow(20000) started'), 15_000);
      const t0 = performance.now();
      ac.abort();
      const err = await p.catch((e: unknown) => e);
      assert.ok(performance.now() - t0 < 1000, 'at once');
      assert.ok(err instanceof CancelledError, String(err));
      // The client stops heartbeating the channel: the server cancels the handler (lost remote).
      await until('the server to abort slow(20000)', () => calc.events.includes('slow(20000) aborted'), 15_000);
      await c.$close();
    });

    it('aborting a stream mid-way stops the server iterator', async () => {
      const c = clientOn<CalcApi>(server.endpoints[0]!, { heartbeat: 250 });
      const ac = new AbortController();
      const s = await c.$with({ signal: ac.signal }).forever();
      let got = 0;
      const err = await (async () => {
        for await (const _ of s) if (++got === 50) ac.abort();
      })().catch((e: unknown) => e);
      assert.ok(err instanceof CancelledError, String(err));
      await until('the server to end forever()', () => calc.events.includes('forever ended'));
      // break out of a stream: the same
      calc.events.length = 0;
      for await (const x of await c.count(1_000_000)) if (x === 10) break;
      await until('the server to end count()', () => calc.events.includes('count(1000000) ended'));
      await c.$close();
    });

    it('a client that stops heartbeating loses its calls on the server (as zerorpc-python does)', async () => {
      const c = clientOn<CalcApi>(server.endpoints[0]!, { heartbeat: false, timeout: 1000 });
      calc.events.length = 0;
      const err = await c.slow(3000).catch((e: unknown) => e);
      assert.ok(err instanceof TimeoutError);
      assert.ok(calc.events.includes('slow(3000) aborted'), calc.events.join());
      await c.$close();
    });

    it('the server deadline answers TimeoutError; overload answers OverloadedError', async () => {
      const s = await serveOn(new Calc(), { bind: 'tcp://127.0.0.1:*', requestTimeout: 500, maxConcurrent: 1, quiet: true });
      const c = clientOn<CalcApi>(s.endpoints[0]!, { retries: false });
      const [slow, refused] = await Promise.all([c.slow(5000).catch((e: unknown) => e), sleep(20).then(() => c.slow(10).catch((e: unknown) => e))]);
      assert.ok(slow instanceof RemoteError && slow.remoteName === 'TimeoutError', String(slow));
      assert.ok(refused instanceof RemoteError && refused.remoteName === 'OverloadedError', String(refused));
      await c.$close();
      await s.close(100);
    });

    it('a server that disappears fails open calls; the client reconnects when it is back', async () => {
      const s = await serveOn(new Calc(), { bind: 'tcp://127.0.0.1:*', quiet: true });
      const endpoint = s.endpoints[0]!;
      const c = clientOn<CalcApi>(endpoint, { heartbeat: 250, retries: false, failureAccrual: false });
      assert.equal(await c.add(1, 2), 3);
      const pending = c.slow(5000).catch((e: unknown) => e);
      await sleep(50);
      await s.close(0);
      const err = await pending;
      assert.ok(err instanceof Error && (err as { code?: string }).code === 'SCALES_ERR_CONNECTION_CLOSED', String(err));
      assert.ok(err instanceof LostRemoteError || /disconnected|closed/.test((err as Error).message));
      const again = await serveOn(new Calc(), { bind: endpoint, quiet: true });
      let result: unknown;
      for (let i = 0; i < 50 && result === undefined; i++) result = await c.add(2, 2).catch(() => sleep(100).then(() => undefined));
      assert.equal(result, 4);
      await c.$close();
      await again.close(100);
    });
  });
}

describe('ZeroRPC on the stack: balancing per channel, failure accrual, stats', () => {
  const servers: ZeroServer[] = [];
  const hits = [0, 0, 0];
  before(async () => {
    for (let i = 0; i < 3; i++) {
      const k = i;
      servers.push(
        await ZeroRpc.serve(
          {
            whoami: () => (hits[k]!++, k),
            items: stream(async function* (n: number, ctx: ServerCallContext) {
              for (let j = 0; j < n; j++) {
                if (ctx.signal.aborted) return;
                yield [k, j];
                if (j % 100 === 0) await sleep(1);
              }
            }),
          },
          { bind: 'tcp://127.0.0.1:*', heartbeat: 1000, quiet: true },
        ),
      );
    }
  });
  after(() => Promise.all(servers.map((s) => s.close(100))));

  it('each call is one channel on the server the balancer picked: concurrent streams stay whole', async () => {
    const c = ZeroRpc.newBuilder({ heartbeat: 1000 })
      .withLoadBalancer('round-robin')
      .build(servers.map((s) => s.endpoints[0]!.replace('tcp://', '')).join(','));
    const streams = await Promise.all(Array.from({ length: 12 }, () => c.items(500) as Promise<AsyncIterable<[number, number]>>));
    const results = await Promise.all(
      streams.map(async (s) => {
        const got: [number, number][] = [];
        for await (const x of s) got.push(x);
        return got;
      }),
    );
    const used = new Set<number>();
    for (const got of results) {
      assert.equal(got.length, 500);
      const k = got[0]![0];
      used.add(k);
      assert.ok(
        got.every(([s, j], i) => s === k && j === i),
        'every item of a stream from one server, in order',
      );
    }
    assert.equal(used.size, 3, 'the streams were spread over the three servers');
    for (let i = 0; i < 30; i++) await c.whoami();
    assert.deepEqual(hits, [10, 10, 10]);
    const snap = c.$stats.snapshot();
    const text = JSON.stringify(snap);
    assert.match(text, /requests/);
    await c.$close();
  });

  it('a dead server is avoided (failure accrual) and the calls go to the live ones', async () => {
    const dead = await ZeroRpc.serve({ whoami: () => -1 }, { bind: 'tcp://127.0.0.1:*', quiet: true });
    const deadEndpoint = dead.endpoints[0]!.replace('tcp://', '');
    await dead.close(0);
    await sleep(300); // ZeroMQ unbinds in the background: let the port really close
    const c = ZeroRpc.newBuilder({ heartbeat: 1000, connectTimeout: 200 })
      .withLoadBalancer('round-robin')
      .build([deadEndpoint, servers[0]!.endpoints[0]!.replace('tcp://', '')].join(','));
    const got: unknown[] = [];
    for (let i = 0; i < 20; i++) got.push(await c.whoami());
    assert.ok(
      got.every((k) => k === 0),
      'every call answered by the live server (connect failures are retried elsewhere)',
    );
    await c.$close();
  });
});

describe('ZeroRPC context in headers', () => {
  it('a trace id set by the caller reaches the server, and the calls its handler makes', async () => {
    const b = await ZeroRpc.serve({ trace: () => currentContext()?.values?.get(TraceId) ?? 'none' }, { bind: 'tcp://127.0.0.1:*', quiet: true });
    const toB = ZeroRpc.newClient<{ trace(): string }>(b.endpoints[0]!);
    const a = await ZeroRpc.serve({ relay: () => toB.trace(), own: () => currentContext()?.values?.get(TraceId) ?? 'none' }, { bind: 'tcp://127.0.0.1:*', quiet: true });
    const toA = ZeroRpc.newClient<{ relay(): string; own(): string }>(a.endpoints[0]!);
    assert.equal(await toA.own(), 'none');
    assert.equal(await withContextValue(TraceId, 'trace-7f3a', () => toA.own()), 'trace-7f3a');
    assert.equal(await withContextValue(TraceId, 'trace-7f3a', () => toA.relay()), 'trace-7f3a', 'propagated through A to B');
    assert.equal(await toA.relay(), 'none');
    await toA.$close();
    await toB.$close();
    await a.close(100);
    await b.close(100);
  });
});

describe('ZeroRPC server interceptors (the stack edit)', () => {
  it('a filter inserted before the handler sees every call and may refuse it', async () => {
    const seen: string[] = [];
    class NeedsTrace extends ServerFilter<ServerRequest> {
      dispatch(req: ServerRequest, ctx: ServerRequestContext<ServerRequest>, handler: ReplyHandler<unknown>): void {
        seen.push(req.method);
        if (ctx.get(TraceId) === undefined) return handler.onError(new NamedError('PermissionError', 'a trace id is required'));
        this.down.dispatch(req, ctx, handler);
      }
    }
    const s = await ZeroRpc.serve(new Calc(), {
      bind: 'tcp://127.0.0.1:*',
      quiet: true,
      stack: (st) =>
        st.insertBefore(
          'handler',
          serverLayer('needs-trace', 'refuses calls without a trace id', (below) => new NeedsTrace(below)),
        ),
    });
    assert.match(s.stack.describe(), /needs-trace/);
    const c = ZeroRpc.newClient<CalcApi>(s.endpoints[0]!);
    const err = await c.add(1, 2).catch((e: unknown) => e);
    assert.ok(err instanceof RemoteError && err.remoteName === 'PermissionError', String(err));
    assert.equal(await withContextValue(TraceId, 't1', () => c.add(1, 2)), 3);
    assert.deepEqual(seen, ['add', 'add']);
    await c.$close();
    await s.close(100);
  });
});

describe('ZeroRPC server that connects', () => {
  it('serves a peer that binds (zerorpc --client --bind)', async () => {
    const zmq = await import('zeromq');
    const { encodeEvent, eventDecoder } = await import('../../src/protocols/zerorpc/index.js');
    const dealer = new zmq.Dealer({ linger: 0 });
    await dealer.bind('tcp://127.0.0.1:*');
    const s = await ZeroRpc.serve(new Calc(), { connect: dealer.lastEndpoint!, quiet: true });
    await dealer.send([Buffer.alloc(0), Buffer.from(encodeEvent({ message_id: 'c1', v: 3 }, 'add', [1, 2]))]);
    const ev = eventDecoder()((await dealer.receive()).at(-1)!);
    assert.equal(ev.name, 'OK');
    assert.deepEqual(ev.args, [3]);
    assert.equal(ev.header.response_to, 'c1');
    dealer.close();
    await s.close(100);
  });
});

describe('ZeroRPC client close', () => {
  it('an unread stream does not hold $close; it ends with ClosedError', async () => {
    const s = await ZeroRpc.serve(new Calc(), { bind: 'tcp://127.0.0.1:*', quiet: true });
    const c = ZeroRpc.newClient<CalcApi>(s.endpoints[0]!);
    const st = await c.count(1000);
    assert.equal((await st.next()).value, 0);
    const started = performance.now();
    await c.$close();
    assert.ok(performance.now() - started < 2000);
    const rest = await st.toArray().catch((e: unknown) => e);
    assert.ok(rest instanceof Error && (rest as { code?: string }).code === 'SCALES_ERR_CLOSED', String(rest));
    await s.close(100);
  });
});

describe('ZeroRPC client: arguments msgpack cannot carry', () => {
  it('fail at once with InvalidArgumentError, nothing sent, no retry', async () => {
    const s = await ZeroRpc.serve(new Calc(), { bind: 'tcp://127.0.0.1:*', quiet: true });
    const c = ZeroRpc.newClient<CalcApi>(s.endpoints[0]!);
    const err = (await c.echo(() => 1).catch((e: unknown) => e)) as { code?: string };
    assert.equal(err.code, 'SCALES_ERR_INVALID_ARGUMENT', String(err));
    assert.equal(await c.add(1, 2), 3);
    await c.$close();
    await s.close(100);
  });
});
