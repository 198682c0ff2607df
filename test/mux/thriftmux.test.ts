// Our ThriftMux client against our ThriftMux server over real loopback TCP: every method of the
// rich IDL, then what Mux adds over plain Thrift: Tdiscarded without reconnecting, NACK landing
// elsewhere, drain, contexts carried from a caller through a handler to the next server, and
// plain framed Thrift on the same port.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { withContextValue } from '../../src/core/context.js';
import { createContextKey } from '../../src/core/context-key.js';
import { CancelledError, InvalidArgumentError, TimeoutError } from '../../src/core/errors.js';
import { Thrift } from '../../src/protocols/thrift/index.js';
import { MuxClientId, MuxRetries, MuxTrace, receivedValue, ThriftMux, type ClientControl, type ServerCallContext, type TraceId } from '../../src/protocols/thriftmux/index.js';
import type { ThriftMuxServer } from '../../src/protocols/thriftmux/server.js';
import { abortableEcho, EchoService, echoHandler, type EchoClient } from '../fixtures/echo-service.js';
import { richChecks } from '../fixtures/rich-checks.js';
import { makeRichHandler, RichService, type RichClient } from '../fixtures/rich-handler.js';
import { sleep, until } from '../harness/wait.js';

const dest = (...servers: ThriftMuxServer[]): string => `tcp://${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;
const counter = (s: ThriftMuxServer, name: string): number => (s.stats.snapshot().scopes['server=Echo']?.counters[name] as number | undefined) ?? 0;
const gauge = (s: ThriftMuxServer, name: string): number => (s.stats.snapshot().scopes['server=Echo']?.gauges[name] as number | undefined) ?? 0;

/** Echoes after `delayMs`; an abort of the call's signal ends it early and is noted in `aborted`. */
for (const protocol of ['binary', 'compact'] as const) {
  describe(`every method round-trips (${protocol})`, () => {
    let server: ThriftMuxServer;
    let client: RichClient & ClientControl;
    before(async () => {
      server = await ThriftMux.serve(RichService, makeRichHandler(), { protocol, onError: false });
      client = ThriftMux.newClient(RichService, dest(server), { protocol, timeout: 5000 });
    });
    after(async () => {
      await client.$close();
      await server.close();
    });
    for (const check of richChecks('scales')) {
      if (check.name === 'void and oneway') continue; // ThriftMux carries no oneway calls (below)
      test(check.name, () => check.run(client));
    }
    test('a oneway method is refused before it is sent, as by Finagle', async () => {
      await assert.rejects(client.record!('x'), InvalidArgumentError);
      assert.equal(await client.noop!(), undefined);
    });
  });
}

describe('abandoned calls: Tdiscarded, not a new connection', () => {
  let server: ThriftMuxServer;
  let client: EchoClient & ClientControl;
  const aborted: unknown[] = [];
  const handler = abortableEcho((_id, _payload, reason) => aborted.push(reason));
  before(async () => {
    server = await ThriftMux.serve(EchoService, handler, { onError: false });
    client = ThriftMux.newClient(EchoService, dest(server));
  });
  after(async () => {
    await client.$close();
    await server.close();
  });

  test('an aborted call frees its caller, the handler sees the abort, the session stays', async () => {
    assert.deepEqual(await client.echo(1n, 0, 'warm'), { id: 1n, payload: 'warm' });
    const ac = new AbortController();
    const call = client.echo(2n, 5000, 'slow', { signal: ac.signal });
    await sleep(20);
    ac.abort();
    await assert.rejects(call, CancelledError);
    await until('the handler saw the abort', () => aborted.length === 1);
    assert.ok(aborted[0] instanceof CancelledError, 'the handler signal carries a CancelledError');
    await until('the server counted the discard', () => gauge(server, 'mux_discarded') === 1);
    assert.deepEqual(await client.echo(3n, 0, 'next'), { id: 3n, payload: 'next' }, 'the next call gets its own reply');
    assert.equal(server.connections, 1, 'no reconnect');
  });

  test('a timed-out call: the caller is freed at its deadline; the deadline travelled to the server', async () => {
    const started = Date.now();
    await assert.rejects(client.echo(4n, 5000, 'late', { timeout: 50 }), TimeoutError);
    assert.ok(Date.now() - started < 1000);
    await until('the handler saw the abort', () => aborted.length === 2);
    assert.deepEqual(await client.echo(5n, 0, 'after'), { id: 5n, payload: 'after' });
    assert.equal(server.connections, 1, 'no reconnect');
  });

  test('a timeout past year 2262 (Number.MAX_SAFE_INTEGER ms) is no deadline: the call runs, the handler sees none', async () => {
    let seen: number | undefined = -1;
    const s = await ThriftMux.serve(
      EchoService,
      abortableEcho(
        () => {},
        (_id, ctx) => (seen = ctx.deadline),
      ),
      { onError: false },
    );
    const c = ThriftMux.newClient(EchoService, dest(s), { timeout: Number.MAX_SAFE_INTEGER });
    assert.deepEqual(await c.echo(6n, 0, 'forever'), { id: 6n, payload: 'forever' });
    assert.equal(seen, undefined, 'sent as none (it used to wrap to a deadline in the past and be refused)');
    await c.$close();
    await s.close();
  });

  test('one AbortSignal shared by 50 calls: one listener on it, no leak warning, an abort frees them all', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const ac = new AbortController();
      // Completed calls leave nothing on the signal.
      const done = await Promise.all(Array.from({ length: 50 }, (_, i) => client.echo(BigInt(100 + i), 1, 'shared', { signal: ac.signal })));
      assert.equal(done.length, 50);
      assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'no listener left once every call ended');
      const seen = aborted.length;
      const calls = Array.from({ length: 50 }, (_, i) => client.echo(BigInt(200 + i), 5000, 'held', { signal: ac.signal }));
      assert.equal(getEventListeners(ac.signal, 'abort').length, 1, '50 calls in flight, one listener on their signal');
      await sleep(20);
      ac.abort(new Error('request gone'));
      const outcomes = await Promise.allSettled(calls);
      for (const o of outcomes) assert.ok(o.status === 'rejected' && o.reason instanceof CancelledError && (o.reason.cause as Error).message === 'request gone');
      await until('the handlers saw every abort', () => aborted.length === seen + 50);
      await sleep(10); // a warning is emitted on the next tick
      assert.deepEqual(
        warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
        [],
      );
      assert.deepEqual(await client.echo(6n, 0, 'after'), { id: 6n, payload: 'after' });
      assert.equal(server.connections, 1, 'no reconnect');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('NACK: a server at its concurrency limit refuses, the call lands elsewhere', () => {
  let busy: ThriftMuxServer;
  let idle: ThriftMuxServer;
  let client: EchoClient & ClientControl;
  const retriesSeen: number[] = [];
  before(async () => {
    busy = await ThriftMux.serve(EchoService, echoHandler, { maxConcurrent: 1, onError: false });
    idle = await ThriftMux.serve(
      EchoService,
      {
        echo(id, _d, payload, ctx) {
          retriesSeen.push(receivedValue(ctx, MuxRetries));
          return { id, payload };
        },
      },
      { onError: false },
    );
    client = ThriftMux.newClient(EchoService, dest(busy, idle), { loadBalancer: 'round-robin', failureAccrual: false });
  });
  after(async () => {
    await client.$close();
    await busy.close();
    await idle.close();
  });

  test('every call succeeds; the busy server NACKed some, and ran only the one it had room for', async () => {
    // Fill the busy server's only slot straight through a client of its own.
    const direct = ThriftMux.newClient(EchoService, dest(busy));
    const hog = direct.echo(0n, 600, 'hog');
    await until('the hog runs', () => counter(busy, 'requests') === 1);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => client.echo(BigInt(i + 1), 0, `c${i}`)));
    for (const [i, r] of results.entries()) assert.deepEqual(r, { id: BigInt(i + 1), payload: `c${i}` });
    assert.ok(counter(busy, 'failures.OVERLOADED') >= 5, `the busy server NACKed (${counter(busy, 'failures.OVERLOADED')})`);
    assert.equal(counter(idle, 'successes'), 20, 'every call ran once, on the idle server');
    const retried = retriesSeen.filter((n) => n > 0).length;
    assert.equal(retried, counter(busy, 'failures.OVERLOADED'), 'each NACKed call arrived with Retries = 1 (the Retries context)');
    assert.deepEqual(await hog, { id: 0n, payload: 'hog' });
    await direct.$close();
  });
});

describe('drain', () => {
  test('closing the server sends Tdrain: the call in flight is answered, the client session closes', async () => {
    const server = await ThriftMux.serve(EchoService, echoHandler, { onError: false });
    const client = ThriftMux.newClient(EchoService, dest(server), { retries: false });
    assert.deepEqual(await client.echo(1n, 0, 'a'), { id: 1n, payload: 'a' });
    const inFlight = client.echo(2n, 200, 'in flight');
    await sleep(30);
    const closed = server.close(5000);
    assert.deepEqual(await inFlight, { id: 2n, payload: 'in flight' }, 'answered before the server closed');
    await closed;
    assert.equal(server.connections, 0);
    await assert.rejects(client.echo(3n, 0, 'after'), 'the node is gone');
    await client.$close();
  });
});

describe('cancellation travels A → B → C: a nested call is cancelled with the request it serves', () => {
  let b: ThriftMuxServer;
  let c: ThriftMuxServer;
  let toC: EchoClient & ClientControl;
  const cAborts: unknown[] = [];
  const bNested: unknown[] = [];
  // B's handler: calls C, noting how that call failed.
  const viaC = (id: bigint, delayMs: number, payload: string): Promise<{ id: bigint; payload: string }> =>
    toC.echo(id, delayMs, payload).catch((err: unknown) => {
      bNested.push(err);
      throw err;
    });
  before(async () => {
    c = await ThriftMux.serve(
      EchoService,
      abortableEcho((_id, _payload, reason) => cAborts.push(reason)),
      { onError: false },
    );
    toC = ThriftMux.newClient(EchoService, dest(c));
    // B passes nothing on by hand: no signal, no deadline.
    b = await ThriftMux.serve(EchoService, { echo: viaC }, { onError: false });
  });
  after(async () => {
    await toC.$close();
    await b.close();
    await c.close();
  });

  test("A aborts: B's call to C is cancelled and C's handler sees it", async () => {
    const a = ThriftMux.newClient(EchoService, dest(b));
    try {
      const ac = new AbortController();
      const call = a.echo(1n, 5000, 'held', { signal: ac.signal });
      await until('C is running the call', () => gauge(c, 'in_flight') === 1);
      await sleep(30);
      ac.abort();
      await assert.rejects(call, CancelledError);
      await until("B's nested call failed", () => bNested.length === 1);
      assert.ok(bNested[0] instanceof CancelledError, `B's nested call failed with ${String(bNested[0])}`);
      await until("C's handler saw the abort", () => cAborts.length === 1);
    } finally {
      await a.$close();
    }
  });

  test("B stops and its grace runs out: B's call to C is cancelled too", async () => {
    const before = { b: bNested.length, c: cAborts.length };
    const b2 = await ThriftMux.serve(EchoService, { echo: viaC }, { onError: false });
    const a = ThriftMux.newClient(EchoService, dest(b2), { retries: false });
    try {
      const call = a.echo(2n, 5000, 'stopped').catch((err: unknown) => err);
      await sleep(50);
      await b2.close(50);
      await call;
      await until("B's nested call failed", () => bNested.length === before.b + 1);
      assert.ok(bNested[before.b] instanceof CancelledError, `B's nested call failed with ${String(bNested[before.b])}`);
      await until("C's handler saw the abort", () => cAborts.length === before.c + 1);
    } finally {
      await a.$close();
    }
  });

  test("A's connection goes away (a FIN: Mux has no half-close): B aborts, its call to C is cancelled", async () => {
    // Closing cuts the call after 1 ms of grace: the socket goes with it.
    const a = ThriftMux.newClient(EchoService, dest(b), { pool: { kind: 'singleton', closeGrace: 1 } });
    const before = { b: bNested.length, c: cAborts.length };
    const call = a.echo(3n, 5000, 'orphaned').catch((err: unknown) => err);
    await until('C is running the call', () => gauge(c, 'in_flight') === 1);
    await a.$close();
    await call;
    await until("B's nested call failed", () => bNested.length === before.b + 1);
    assert.ok(bNested[before.b] instanceof CancelledError, `B's nested call failed with ${String(bNested[before.b])}`);
    await until("C's handler saw the abort", () => cAborts.length === before.c + 1);
    await until('B dropped the connection', () => b.connections === 0);
  });

  test('a nested call makes no AbortController: the request is followed without one', async () => {
    const a = ThriftMux.newClient(EchoService, dest(b));
    const Original = globalThis.AbortController;
    let made = 0;
    globalThis.AbortController = class extends Original {
      constructor() {
        super();
        made++;
      }
    };
    try {
      for (let i = 0; i < 20; i++) assert.deepEqual(await a.echo(BigInt(i), 0, 'plain'), { id: BigInt(i), payload: 'plain' });
    } finally {
      globalThis.AbortController = Original;
      await a.$close();
    }
    assert.equal(made, 0, 'AbortControllers made while serving 20 nested calls');
  });
});

describe('contexts: deadline, trace, retries and client id travel A → B → C', () => {
  let b: ThriftMuxServer;
  let c: ThriftMuxServer;
  let toC: EchoClient & ClientControl;
  let bTrace: TraceId | undefined;
  let seen: { deadline: number | undefined; trace: TraceId | undefined; retries: number; clientId: string | undefined } | undefined;
  before(async () => {
    c = await ThriftMux.serve(
      EchoService,
      {
        echo(id, _d, payload, ctx: ServerCallContext) {
          seen = { deadline: ctx.deadline, trace: receivedValue(ctx, MuxTrace), retries: receivedValue(ctx, MuxRetries), clientId: receivedValue(ctx, MuxClientId) };
          return { id, payload };
        },
      },
      { onError: false },
    );
    toC = ThriftMux.newClient(EchoService, dest(c), { clientId: 'service-b' });
    // B calls C from its handler, passing nothing on by hand.
    b = await ThriftMux.serve(
      EchoService,
      {
        echo(id, _d, payload, ctx) {
          bTrace = receivedValue(ctx, MuxTrace);
          return toC.echo(id, 0, payload);
        },
      },
      { onError: false },
    );
  });
  after(async () => {
    await toC.$close();
    await b.close();
    await c.close();
  });

  test("C's handler sees A's remaining deadline and A's trace id; client id is B's own", async () => {
    const a = ThriftMux.newClient(EchoService, dest(b), { clientId: 'service-a' });
    const trace: TraceId = { traceId: 0xabcdefn, spanId: 7n, parentId: 0n, flags: 6n };
    const sentAt = Date.now();
    const got = await withContextValue(MuxTrace, trace, () => a.echo(9n, 0, 'hop', { timeout: 100 }));
    assert.deepEqual(got, { id: 9n, payload: 'hop' });
    assert.ok(seen !== undefined);
    assert.ok(seen.deadline !== undefined, 'C got a deadline');
    assert.ok(seen.deadline <= sentAt + 100 + 5 && seen.deadline > sentAt + 20, `C's deadline is A's (${seen.deadline - sentAt} ms after A sent)`);
    assert.equal(seen.trace?.traceId, 0xabcdefn, 'the trace id set at A arrives at C');
    assert.equal(seen.trace?.flags, 6n);
    assert.equal(bTrace?.parentId, 7n, "B's span is a child of the span set at A");
    assert.equal(seen.trace?.parentId, bTrace?.spanId, "C's span is a child of B's");
    assert.notEqual(seen.trace?.spanId, bTrace?.spanId, 'each hop is a span of its own');
    assert.equal(seen.clientId, 'service-b');
    assert.equal(seen.retries, 0);
    await a.$close();
  });
});

describe("a user's context key (contextKeys) over Mux", () => {
  test("each call's value reaches its handler, 200 calls at once; a codec that keeps its bytes gets its own copy", async () => {
    // decode returns the Buffer it is given: a view would pin the connection's whole read buffer.
    const Tenant = createContextKey<Buffer | undefined>('tenant', undefined, { name: 'x-Tenant', encode: (v) => v ?? Buffer.alloc(0), decode: (b) => b });
    const seen = new Map<string, string>();
    let pinned = 0;
    const server = await ThriftMux.serve(
      EchoService,
      {
        async echo(id, _d, payload, ctx: ServerCallContext) {
          const tenant = receivedValue(ctx, Tenant);
          if (tenant !== undefined) pinned = Math.max(pinned, tenant.buffer.byteLength);
          await sleep(5); // later reads land meanwhile
          seen.set(payload, tenant === undefined ? '(none)' : tenant.toString());
          return { id, payload };
        },
      },
      { onError: false, contextKeys: [Tenant] },
    );
    const client = ThriftMux.newClient(EchoService, dest(server));
    await Promise.all(Array.from({ length: 200 }, (_, i) => withContextValue(Tenant, Buffer.from(`tenant-${i}`), () => client.echo(BigInt(i), 0, `call ${i}`))));
    assert.equal(seen.size, 200);
    for (let i = 0; i < 200; i++) assert.equal(seen.get(`call ${i}`), `tenant-${i}`);
    assert.ok(pinned <= Buffer.poolSize, `a value holds ${pinned} bytes of memory (a view of the read would hold the read)`);
    await client.$close();
    await server.close();
  });
});

describe('plain framed Thrift on the ThriftMux port', () => {
  test('our Thrift client (binary and compact) is served on the same port as Mux clients', async () => {
    for (const protocol of ['binary', 'compact'] as const) {
      const server = await ThriftMux.serve(RichService, makeRichHandler(), { protocol, onError: false });
      const plain = Thrift.newClient(RichService, dest(server), { protocol }) as RichClient & ClientControl;
      const mux = ThriftMux.newClient(RichService, dest(server), { protocol }) as RichClient & ClientControl;
      assert.equal(await plain.ping!(), 'pong');
      assert.equal(await mux.ping!(), 'pong');
      assert.equal(await plain.addI64!(2n, 3n), 5n);
      await assert.rejects(plain.lookup!('missing'), (e: Error) => e.constructor.name === 'NotFound');
      await plain.$close();
      await mux.$close();
      await server.close();
    }
  });
});

describe('handshake', () => {
  test('a client that does not negotiate (handshake: false) is served too', async () => {
    const server = await ThriftMux.serve(EchoService, echoHandler, { onError: false });
    const client = ThriftMux.newClient(EchoService, dest(server), { handshake: false });
    assert.deepEqual(await client.echo(1n, 0, 'x'), { id: 1n, payload: 'x' });
    await client.$close();
    await server.close();
  });
});

describe('connection limits: the ThriftMux server listens under the shared stream limits', () => {
  test('past maxConnections a new connection is closed at once; a half-sent frame is closed by the read timeout', async () => {
    const net = await import('node:net');
    const server = await ThriftMux.serve(EchoService, echoHandler, { maxConnections: 1, frameTimeoutMs: 300, onError: false });
    const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${server.port}`);
    try {
      assert.equal((await client.echo(1n, 0, 'a')).id, 1n, 'the one connection allowed is served');
      const closedAfter = (bytes: Buffer): Promise<number> =>
        new Promise((resolve) => {
          const start = Date.now();
          const s = net.connect(server.port, '127.0.0.1', () => s.write(bytes));
          s.on('error', () => undefined);
          s.resume();
          s.on('close', () => resolve(Date.now() - start));
        });
      assert.ok((await closedAfter(Buffer.alloc(0))) < 1000, 'the second connection was refused');
      await client.$close();
      // The cap is free again: a frame announcing 100 bytes that never come is cut by the read timeout.
      const ms = await closedAfter(Buffer.from([0, 0, 0, 100, 1, 2, 3]));
      assert.ok(ms >= 250 && ms < 3000, `closed by the 300 ms read timeout after ${ms} ms`);
      assert.equal(server.stats.scope('server', 'Echo').counter('connections_refused').value >= 1, true);
    } finally {
      await client.$close();
      await server.close(100);
    }
  });
});

describe('announcing', () => {
  test('a ThriftMux server announces like a Thrift server and leaves the serverset before it drains', async () => {
    const { registerAnnouncer } = await import('../../src/discovery/announce.js');
    const events: string[] = [];
    registerAnnouncer('test-mux', async (uri, service) => {
      events.push(`join ${uri} ${service.port}`);
      return {
        uri,
        node: '/member_0',
        withdraw: async () => {
          // Leaving comes first: the server still accepts connections while it leaves.
          const net = await import('node:net');
          const accepting = await new Promise<boolean>((resolve) => {
            const s = net.connect(service.port, '127.0.0.1', () => {
              s.destroy();
              resolve(true);
            });
            s.on('error', () => resolve(false));
          });
          events.push(`leave (accepting: ${accepting})`);
        },
      };
    });
    const server = await ThriftMux.serve(EchoService, echoHandler, { onError: false });
    const a = await server.announce('test-mux://registry/echo');
    assert.equal(a.node, '/member_0');
    const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${server.port}`);
    try {
      assert.equal((await client.echo(5n, 0, 'x')).id, 5n);
    } finally {
      await client.$close();
    }
    await server.close(100);
    events.push('closed');
    assert.deepEqual(events, [`join test-mux://registry/echo ${server.port}`, 'leave (accepting: true)', 'closed']);
  });
});
