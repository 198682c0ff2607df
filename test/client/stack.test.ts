// The shared client stack as users configure it: roles and their order per protocol, option
// checks, stack edits by role name, destinations (strings, schemes, live ServerSets), and the
// opt-in roles (hedging, no retries, no failure accrual) over real loopback servers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { layer } from '../../src/core/stack.js';
import type { CallContext, Service } from '../../src/core/service.js';
import { registerScheme } from '../../src/discovery/resolve.js';
import { StaticServerSet } from '../../src/discovery/serverset.js';
import { Http } from '../../src/protocols/http/index.js';
import { Thrift, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { Role } from '../../src/client/roles.js';
import { EchoService, echoHandler } from '../fixtures/echo-service.js';

describe('stack shape', () => {
  test('Thrift: stats, timeout, retries, serializer, balancer, then per node: accrual, pool, transport', () => {
    const stack = Thrift.newBuilder(EchoService).stack('tcp://127.0.0.1:9');
    assert.deepEqual(stack.roles, ['stats', 'timeout', 'retries', 'serializer', 'loadbalancer', 'failure-accrual', 'pool', 'transport']);
    assert.match(stack.describe(), /5\. loadbalancer +p2c/);
    assert.match(stack.describe(), /7\. pool +watermark/);
    assert.match(stack.describe(), /5\. loadbalancer .*per-node stats/);
  });

  test('HTTP has no serializer; optional roles come and go with the options', () => {
    assert.deepEqual(Http.newBuilder().stack('tcp://127.0.0.1:9').roles, ['stats', 'timeout', 'retries', 'loadbalancer', 'failure-accrual', 'pool', 'transport']);
    const lean = Http.newBuilder().withRetries(false).withFailureAccrual(false).withHedging({ delay: 20 }).stack('tcp://127.0.0.1:9');
    assert.deepEqual(lean.roles, ['stats', 'timeout', 'hedging', 'loadbalancer', 'pool', 'transport']);
  });

  test('the chosen balancer and pool are described with their effective settings', () => {
    const s = Thrift.newBuilder(EchoService)
      .withLoadBalancer({ kind: 'aperture', minSize: 2 })
      .withPool({ kind: 'watermark', highWatermark: 3, maxWaiters: 7 })
      .stack('tcp://127.0.0.1:9,127.0.0.1:10');
    assert.match(s.get('loadbalancer')!.description, /aperture.*2 node/);
    assert.match(s.get('pool')!.description, /1\.\.3 connections.*7 waiting/);
    assert.match(Thrift.newBuilder(EchoService).withPoolSize(2).stack('tcp://127.0.0.1:9').get('pool')!.description, /pipeline: up to 2/);
  });

  test('withStack edits by role name', () => {
    const mine = layer('audit', 'counts calls', (below: Service<unknown, unknown>) => below);
    const s = Thrift.newBuilder(EchoService)
      .withStack((st) => st.insertAfter('retries', mine))
      .withStack((st) => st.remove('failure-accrual'))
      .stack('tcp://127.0.0.1:9');
    assert.deepEqual(s.roles.slice(0, 5), ['stats', 'timeout', 'retries', 'audit', 'serializer']);
    assert.ok(!s.has('failure-accrual'));
    assert.throws(
      () =>
        Thrift.newBuilder(EchoService)
          .withStack((st) => st.remove('nope'))
          .stack('tcp://127.0.0.1:9'),
      /no stack role 'nope'/,
    );
  });

  test('two stacks: the call stack ends in the topology, the endpoint stack is printed under it', () => {
    const s = Thrift.newBuilder(EchoService).stack('tcp://127.0.0.1:9');
    assert.deepEqual(s.call.roles, [Role.stats, Role.timeout, Role.retries, Role.serializer, Role.loadbalancer]);
    assert.deepEqual(s.endpoint.roles, [Role.failureAccrual, Role.pool, Role.transport]);
    assert.match(s.describe(), /5\. loadbalancer .*\n {3}per endpoint:\n6\. failure-accrual /);
    // insertAfter the topology puts a role on top of every endpoint's stack.
    const spy = layer('spy', 'per endpoint', (below: Service<unknown, unknown>) => below);
    const edited = Thrift.newBuilder(EchoService)
      .withStack((st) => st.insertAfter(Role.loadbalancer, spy))
      .stack('tcp://127.0.0.1:9');
    assert.deepEqual(edited.endpoint.roles, ['spy', Role.failureAccrual, Role.pool, Role.transport]);
  });

  test('an edit that breaks the stack fails when the client is built, naming the roles (never at the first call)', () => {
    const dest = 'tcp://127.0.0.1:9';
    const b = Thrift.newBuilder(EchoService);
    // No serializer: the proxy would send decoded calls to a stack of encoded messages.
    assert.throws(() => b.withStack((s) => s.remove(Role.serializer)).build(dest), /call stack: its top \('stats'\) gives service<wire>, but its user needs service<call>/);
    // No pool: failure accrual would get a connector instead of a service.
    assert.throws(() => b.withStack((s) => s.remove(Role.pool)).build(dest), /endpoint stack: role 'failure-accrual' needs service<\*> below it, but 'transport' gives connector/);
    // The topology and the transport are terminals: replaced, never removed.
    assert.throws(() => b.withStack((s) => s.remove(Role.loadbalancer)).build(dest), /cannot remove 'loadbalancer': it is the terminal of the call stack/);
    assert.throws(() => b.withStack((s) => s.remove(Role.transport)).build(dest), /cannot remove 'transport': it is the terminal of the endpoint stack/);
    // A second serializer under the first: it would be handed encoded messages it cannot encode.
    const again = Thrift.newBuilder(EchoService).stack(dest).get(Role.serializer)!;
    assert.throws(
      () => b.withStack((s) => s.insertAfter(Role.serializer, { ...again, role: 'serializer2' })).build(dest),
      /role 'serializer' needs service<wire> below it, but 'serializer2' gives service<call>/,
    );
  });

  test('bad options fail when the client is built, naming the option', () => {
    const b = Thrift.newBuilder(EchoService);
    const dest = 'tcp://127.0.0.1:9';
    assert.throws(() => b.withTimeout(0).build(dest), /timeout must be a positive number/);
    assert.throws(() => b.withLoadBalancer('fastest' as 'p2c').build(dest), /loadBalancer must be one of/);
    assert.throws(() => b.withLoadBalancer({ kind: 'p2c', maxEffort: 0 }).build(dest), InvalidArgumentError);
    assert.throws(() => b.withPool({ kind: 'watermark', lowWatermark: 5, highWatermark: 2 }).build(dest), /lowWatermark/);
    assert.throws(() => b.withPoolSize(2).withPool({ kind: 'singleton' }).build(dest), /either poolSize or pool/);
    assert.throws(() => b.withHedging({ delay: 10 }).build(dest), /idempotent/);
    assert.throws(() => b.withRetries({ maxRetries: -1 }).build(dest), /maxRetries/);
    assert.throws(() => b.withRetryBudget({ percentCanRetry: -1 }).build(dest), /percentCanRetry/);
    assert.throws(() => b.build('etcd://etcd1:2379/svc'), /unsupported destination scheme 'etcd:\/\/'/);
  });
});

describe('destinations', () => {
  let server: ThriftServer;
  before(async () => {
    server = await Thrift.serve(EchoService, echoHandler);
  });
  after(() => server.close());

  test('a registered scheme resolves to a ServerSet', async () => {
    registerScheme('fixed', (rest) => new StaticServerSet([{ host: '127.0.0.1', port: Number(rest) }]));
    const client = Thrift.newClient(EchoService, `fixed://${server.port}`, { timeout: 2000 });
    try {
      assert.equal((await client.echo(1n, 0, 'via scheme')).payload, 'via scheme');
    } finally {
      await client.$close();
    }
  });

  test('an aperture client reports its window size; other balancers do not', async () => {
    const dest = `tcp://127.0.0.1:${server.port}`;
    const aperture = Thrift.newBuilder(EchoService).withLoadBalancer({ kind: 'aperture', minSize: 1 }).withLabel('ap').build(dest);
    const p2c = Thrift.newBuilder(EchoService).withLabel('p2c').build(dest);
    try {
      await aperture.echo(1n, 0, 'a');
      assert.equal(aperture.$stats.snapshot().scopes['client=ap']!.gauges['aperture_size'], 1);
      assert.equal(p2c.$stats.snapshot().scopes['client=p2c']?.gauges['aperture_size'], undefined);
    } finally {
      await aperture.$close();
      await p2c.$close();
    }
  });

  test('a live ServerSet: a client built on an empty set fails with NoNodes until a node joins', async () => {
    const set = new StaticServerSet([]);
    const client = Thrift.newClient(EchoService, set, { timeout: 2000 });
    try {
      await assert.rejects(client.echo(1n, 0, 'x'), (e: unknown) => (e as { code?: string }).code === 'SCALES_ERR_NO_NODES');
      const failed = client.$stats.snapshot().scopes['client=Echo@serverset']!;
      assert.equal(failed.counters['failures.NO_NODES'], 1);
      assert.ok(failed.histograms['latency_ms']!.min >= 0 && failed.histograms['latency_ms']!.max < 1000, 'a call that never reached a node still has a sane latency');
      set.update([{ host: '127.0.0.1', port: server.port }]);
      assert.equal((await client.echo(2n, 0, 'joined')).payload, 'joined');
      assert.equal(client.$stats.snapshot().scopes[`client=Echo@serverset`]?.gauges['nodes'], 1);
    } finally {
      await client.$close();
    }
  });
});

describe('hedging over real servers', () => {
  let slow: ThriftServer;
  let fast: ThriftServer;
  before(async () => {
    // The slow server sleeps 800 ms on every call, whatever the caller asked.
    slow = await Thrift.serve(EchoService, { echo: (id, _d, p) => new Promise((r) => setTimeout(r, 800, { id, payload: `slow:${p}` })) });
    fast = await Thrift.serve(EchoService, { echo: (id, _d, p) => ({ id, payload: `fast:${p}` }) });
  });
  after(async () => {
    await slow.close(100);
    await fast.close();
  });

  test('a backup request after the delay answers calls the slow node sits on', async () => {
    const dest = `tcp://127.0.0.1:${slow.port},127.0.0.1:${fast.port}`;
    const attempts: string[] = [];
    const counter = layer('count', 'counts attempts', (below: Service<unknown, unknown>) => ({
      status: 'open' as const,
      close: () => below.close(),
      call: (req: unknown, ctx: CallContext) => {
        attempts.push(ctx.method);
        return below.call(req, ctx);
      },
    }));
    const client = Thrift.newBuilder(EchoService)
      .withLoadBalancer('round-robin')
      .withIdempotent(['echo'])
      .withHedging({ delay: 50 })
      .withRetryBudget({ percentCanRetry: 1, minRetriesPerSec: 100 })
      .withStack((s) => s.insertAfter('hedging', counter))
      .withTimeout(3000)
      .build(dest);
    try {
      for (let i = 0; i < 6; i++) {
        const t0 = Date.now();
        const reply = await client.echo(BigInt(i), 0, `c${i}`);
        assert.equal(reply.payload, `fast:c${i}`, 'the fast node answers every call, first or as the backup');
        assert.ok(Date.now() - t0 < 600, `call ${i} took ${Date.now() - t0} ms: the backup did not win`);
      }
      const gauges = client.$stats.snapshot().scopes[`client=Echo@127.0.0.1:${slow.port},127.0.0.1:${fast.port}`]!.gauges;
      assert.ok(gauges['backup_requests']! >= 2, `${gauges['backup_requests']} backups`);
      assert.equal(gauges['backup_wins'], gauges['backup_requests']);
      assert.equal(attempts.length, 6 + gauges['backup_requests']!);
    } finally {
      await client.$close();
    }
  });

  test('without hedging the same calls wait for the slow node', async () => {
    const client = Thrift.newBuilder(EchoService).withLoadBalancer('round-robin').withTimeout(3000).build(`tcp://127.0.0.1:${slow.port},127.0.0.1:${fast.port}`);
    try {
      const replies = await Promise.all([0, 1, 2, 3].map((i) => client.echo(BigInt(i), 0, `n${i}`)));
      assert.ok(
        replies.some((r) => r.payload.startsWith('slow:')),
        'round-robin sends some calls to the slow node',
      );
    } finally {
      await client.$close();
    }
  });
});

describe('failure accrual learns outcomes whichever way it sits', () => {
  let failing: ThriftServer;
  let healthy: ThriftServer;
  let failingCalls = 0;
  before(async () => {
    failing = await Thrift.serve(EchoService, {
      echo: () => {
        failingCalls++;
        throw new Error('always fails');
      },
    });
    healthy = await Thrift.serve(EchoService, echoHandler);
  });
  after(async () => {
    await failing.close();
    await healthy.close();
  });

  // Right under the balancer it takes outcomes from the balancer (no promise of its own); with
  // another per-node role in between it must observe calls itself. Either way: dead after 5, and
  // then the failing node gets no more calls while the healthy one is open.
  for (const between of [false, true]) {
    test(between ? 'with a per-node role between balancer and accrual' : 'directly under the balancer', async () => {
      const seen: string[] = [];
      const spy = layer('spy', 'records attempts', (below: Service<unknown, unknown>) => ({
        get status() {
          return below.status;
        },
        close: () => below.close(),
        call: (req: unknown, ctx: CallContext) => {
          seen.push(ctx.method);
          return below.call(req, ctx);
        },
      }));
      const set = new StaticServerSet([{ host: '127.0.0.1', port: failing.port }]);
      let b = Thrift.newBuilder(EchoService).withLabel('fa').withRetries(false).withFailureAccrual({ consecutiveFailures: 5, successRate: false });
      if (between) b = b.withStack((st) => st.insertAfter('loadbalancer', spy));
      const client = b.build(set);
      failingCalls = 0;
      try {
        for (let i = 0; i < 5; i++) await assert.rejects(client.echo(BigInt(i), 0, 'x'), /Internal error processing echo/);
        const node = () => client.$stats.snapshot().scopes[`client=fa/node=127.0.0.1:${failing.port}`]!;
        assert.equal(node().state?.current, 'dead');
        // Alone in the set it is still tried (panic mode: no node is open), and still fails.
        await assert.rejects(client.echo(5n, 0, 'x'), /Internal error processing echo/);
        assert.equal(failingCalls, 6);
        // With a healthy node beside it, the dead one gets nothing.
        set.update([
          { host: '127.0.0.1', port: failing.port },
          { host: '127.0.0.1', port: healthy.port },
        ]);
        for (let i = 0; i < 20; i++) assert.equal((await client.echo(BigInt(i), 0, 'ok')).payload, 'ok');
        assert.equal(failingCalls, 6);
        assert.equal(node().counters['failures.APPLICATION'], 6);
        assert.equal(seen.length, between ? 26 : 0);
      } finally {
        await client.$close();
      }
    });
  }
});

test('every node down (nothing listening): calls still try, and fail fast naming the endpoint', async () => {
  const probe = await Thrift.serve(EchoService, echoHandler);
  const port = probe.port;
  await probe.close(); // nothing listens there now
  const client = Thrift.newBuilder(EchoService).withLabel('down').withRetries(false).withConnectTimeout(1000).withTimeout(5000).build(`tcp://127.0.0.1:${port}`);
  try {
    for (let i = 0; i < 8; i++) {
      const t0 = Date.now();
      await assert.rejects(client.echo(1n, 0, 'x'), (e: unknown) => (e as { code?: string }).code === 'SCALES_ERR_CONNECT' && (e as Error).message.includes(`127.0.0.1:${port}`));
      assert.ok(Date.now() - t0 < 1000, 'fails fast, well before the 5 s timeout');
    }
    assert.equal(client.$stats.snapshot().scopes[`client=down/node=127.0.0.1:${port}`]!.state?.current, 'dead');
  } finally {
    await client.$close();
  }
});
