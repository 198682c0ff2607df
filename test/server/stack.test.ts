// The server dispatcher and its roles over real TCP: deadline, disconnect, concurrency limit,
// oneway accounting, ONEWAY misuse, sync handlers without promises, stats, drain.
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import net from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { ClosedError, ConnectionClosedError, ProtocolError, TimeoutError } from '../../src/core/errors.js';
import { isOverloadRejection, Thrift, ThriftApplicationError, type ClientControl, type ThriftServer, type ThriftServerOptions } from '../../src/protocols/thrift/index.js';
import { Gates, GateService, MessageType, Nope, rawCall, type GateClient } from './gate-service.js';
import { sleep, until } from '../harness/wait.js';

let server: ThriftServer | undefined;
let clients: (GateClient & ClientControl)[] = [];
let gates: Gates;
const errors: { err: unknown; where: string }[] = [];

async function start(options: ThriftServerOptions = {}): Promise<ThriftServer> {
  gates = new Gates();
  errors.length = 0;
  server = await Thrift.serve(GateService, gates.handler(), { onError: (err, where) => errors.push({ err, where }), ...options });
  return server;
}

// No retries: the server's own counts are checked, and an overload answer is retryable.
function client(): GateClient & ClientControl {
  const c = Thrift.newClient(GateService, `tcp://127.0.0.1:${server!.port}`, { timeout: 5000, retries: false });
  clients.push(c);
  return c;
}

afterEach(async () => {
  gates?.releaseAll();
  for (const c of clients) await c.$close();
  clients = [];
  await server?.close(500);
  server = undefined;
});

describe('deadline', () => {
  test('requestTimeout aborts ctx.signal and answers a timeout at once; the late result is dropped', async () => {
    await start({ requestTimeout: 100 });
    const c = client();
    const started = Date.now();
    await assert.rejects(c.wait('slow'), (err: unknown) => err instanceof ThriftApplicationError && /timed out/.test(err.message));
    const took = Date.now() - started;
    assert.ok(took >= 90 && took < 600, `answered at the deadline (${took} ms)`);
    assert.ok(gates.aborted.get('slow') instanceof TimeoutError, 'the handler saw its signal abort with a TimeoutError');
    const ctx = gates.contexts.get('slow')!;
    assert.ok(ctx.deadline !== undefined && ctx.deadline <= Date.now(), 'the handler saw the deadline');
    gates.release('slow'); // the late result: dropped, the connection carries on
    assert.equal(await c.echo('next'), 'next');
  });
});

describe('caller disconnect', () => {
  // A FIN alone is a half-close (the caller may still read its answers): the requests run on.
  // A reset or a closed socket is a caller that is gone.
  test('a reset aborts the signal of the requests it left running', async () => {
    await start();
    const sock = net.connect(server!.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write(rawCall('wait', MessageType.CALL, 1, 'orphan'));
    await until('the handler to start', () => gates.started.includes('orphan'));
    sock.resetAndDestroy();
    await until('the abort', () => gates.aborted.has('orphan'));
    assert.ok(gates.aborted.get('orphan') instanceof ConnectionClosedError);
  });
});

describe('concurrency limit', () => {
  test('the N+1-th concurrent call is rejected at once, and the server keeps serving', async () => {
    await start({ maxConcurrent: 3 });
    const c = client();
    const running = ['a', 'b', 'c'].map((id) => c.wait(id));
    await until('three handlers running', () => gates.started.length === 3);
    const started = Date.now();
    await assert.rejects(c.wait('d'), (err: unknown) => isOverloadRejection(err));
    assert.ok(Date.now() - started < 300, 'rejected at once, not queued');
    assert.ok(!gates.started.includes('d'), 'the rejected call did not run');
    gates.releaseAll();
    assert.deepEqual(await Promise.all(running), ['a', 'b', 'c']);
    assert.equal(await c.echo('after'), 'after');
  });

  test('oneway handlers count against the cap', async () => {
    await start({ maxConcurrent: 2 });
    const c = client();
    await c.hold('o1');
    await c.hold('o2');
    await until('two oneway handlers running', () => gates.started.length === 2);
    await assert.rejects(c.echo('x'), (err: unknown) => isOverloadRejection(err), 'two running oneway handlers fill the cap');
    gates.releaseAll();
    await until('the oneway handlers to finish', () => server!.stats.snapshot().scopes['server=Gate']!.gauges['in_flight'] === 0);
    assert.equal(await c.echo('y'), 'y');
  });
});

describe('ONEWAY for a two-way method', () => {
  test('closes the connection with a ProtocolError; the handler never runs', async () => {
    await start();
    const sock = net.connect(server!.port, '127.0.0.1');
    const received: Buffer[] = [];
    sock.on('data', (d) => received.push(d));
    const closed = new Promise((r) => sock.once('close', r));
    sock.on('error', () => undefined);
    sock.write(rawCall('wait', MessageType.ONEWAY, 0, 'sneaky'));
    await closed;
    assert.equal(Buffer.concat(received).length, 0, 'no answer');
    assert.ok(!gates.started.includes('sneaky'), 'the two-way handler did not run');
    assert.ok(errors.some((e) => e.err instanceof ProtocolError && /ONEWAY message for two-way method 'wait'/.test((e.err as Error).message)));
  });
});

describe('sync handlers', () => {
  test('are answered without a single promise', async () => {
    await start({ requestTimeout: 5000, maxConcurrent: 100 }); // every role active
    const sock = net.connect(server!.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const n = 200;
    const calls = Buffer.concat(Array.from({ length: n }, (_, i) => rawCall('echo', MessageType.CALL, i + 1, `m${i}`)));
    let promises = 0;
    const hook = createHook({
      init(_id, type) {
        if (type === 'PROMISE') {
          promises++;
        }
      },
    });
    let got = 0;
    const done = new Promise<void>((resolve) => {
      sock.on('data', (d) => {
        got += d.length;
        if (got >= expected) {
          hook.disable();
          resolve();
        }
      });
    });
    // The exact size of the n replies, computed like the server encodes them.
    let expected = 0;
    // frame length 4 + header (version/type 4, name 4+4, seqid 4) + field 0 (3 + 4 + bytes) + stop 1
    for (let i = 0; i < n; i++) expected += 4 + 16 + 3 + 4 + `m${i}`.length + 1;
    // Enabled on a later turn: the test's own `await` below makes a promise of its own.
    setImmediate(() => {
      hook.enable();
      sock.write(calls);
    });
    await done;
    sock.destroy();
    assert.equal(got, expected);
    assert.equal(promises, 0, `promises made while serving ${n} sync calls`);
  });
});

describe('stats', () => {
  test('requests, successes, failures by code, user exceptions, in_flight, latency', async () => {
    const s = await start({ requestTimeout: 100, maxConcurrent: 1 });
    const c = client();
    assert.equal(await c.echo('1'), '1');
    await assert.rejects(c.fail('nope'), Nope);
    await assert.rejects(c.fail('boom'), /: Internal error processing fail$/, 'the message stays on the server (exposeErrors is off)');
    await assert.rejects(c.wait('late'), /timed out/);
    gates.release('late'); // its handler kept the one permit until now
    await sleep(10);
    const blocked = c.hold('h');
    await blocked;
    await until('the oneway handler', () => gates.started.includes('h'));
    await assert.rejects(c.echo('over'), (err: unknown) => isOverloadRejection(err));
    gates.releaseAll();
    await until('idle', () => s.stats.snapshot().scopes['server=Gate']!.gauges['in_flight'] === 0);
    const scope = s.stats.snapshot().scopes['server=Gate']!;
    assert.equal(scope.counters['requests'], 6);
    assert.equal(scope.counters['successes'], 3, 'echo, the declared exception, the oneway');
    assert.equal(scope.counters['user_exceptions'], 1);
    assert.equal(scope.counters['failures'], 3);
    assert.equal(scope.counters['failures.APPLICATION'], 1);
    assert.equal(scope.counters['failures.TIMEOUT'], 1);
    assert.equal(scope.counters['failures.OVERLOADED'], 1);
    assert.equal(scope.histograms['latency_ms']!.count, 6);
    assert.ok(
      errors.some((e) => e.where === 'handler fail' && /crash boom/.test(String(e.err))),
      'the crash was reported',
    );
    assert.ok(!errors.some((e) => e.err instanceof Nope), 'a declared exception is not a crash');
  });

  test('the stack prints its roles in order', async () => {
    const s = await start({ requestTimeout: 250 });
    assert.deepEqual(s.stack.roles, ['stats', 'deadline', 'concurrency', 'logging', 'errors', 'handler']);
    assert.match(s.stack.describe(), /^1\. stats .*server=Gate.*\n2\. deadline +requestTimeout 250 ms.*\n3\. concurrency +off/);
  });
});

describe('drain', () => {
  test('close(grace) stops accepting, finishes running calls, then closes', async () => {
    const s = await start();
    const c = client();
    const running = c.wait('r');
    await until('the handler', () => gates.started.includes('r'));
    const closing = s.close(5000);
    await sleep(50);
    await assert.rejects(new Promise((resolve, reject) => net.connect(s.port, '127.0.0.1').once('connect', resolve).once('error', reject)), 'no new connections once closing');
    let closed = false;
    void closing.then(() => (closed = true));
    await sleep(50);
    assert.equal(closed, false, 'waits for the running call');
    gates.release('r');
    assert.equal(await running, 'r', 'the running call was answered');
    await closing;
    server = undefined;
  });

  test('after grace, running handlers are aborted with ClosedError and connections closed', async () => {
    const s = await start();
    const c = client();
    const running = c.wait('stuck').catch((err: unknown) => err);
    await until('the handler', () => gates.started.includes('stuck'));
    const started = Date.now();
    await s.close(150);
    server = undefined;
    assert.ok(Date.now() - started < 1000, `closed in ${Date.now() - started} ms`);
    assert.ok(gates.aborted.get('stuck') instanceof ClosedError, `the handler's signal: ${String(gates.aborted.get('stuck'))}`);
    const outcome = await running;
    assert.ok(outcome instanceof ConnectionClosedError, `the caller got ${String(outcome)}`);
  });
});
