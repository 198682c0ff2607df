// The registry's API and snapshot shape, and the stats layer inside a real client stack talking
// to a real Thrift server: successes, declared exceptions, application errors, timeouts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Thrift, type ClientControl, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { outcomeCode } from '../../src/core/classify.js';
import { StatsRegistry } from '../../src/stats/index.js';
import { makeRichHandler, RichService, type RichClient } from '../fixtures/rich-handler.js';

test('counters read at snapshot time add up with each other and with counter() of the same name', () => {
  const stats = new StatsRegistry();
  const scope = stats.scope('client', 'C');
  let a = 2;
  let b = 5;
  scope.counterFn('requests', () => a);
  scope.counterFn('requests', () => b);
  scope.counter('requests').incr(10);
  assert.equal(stats.snapshot().scopes['client=C']!.counters['requests'], 17);
  a = 3;
  b = 0;
  assert.equal(stats.snapshot().scopes['client=C']!.counters['requests'], 13, 'read again at every snapshot');
});

test('scopes, metrics and the JSON snapshot', () => {
  const stats = new StatsRegistry({ stateHistory: 3 });
  const client = stats.scope('client', 'UserService');
  const node = client.scope('node', '10.0.0.1:9090');
  assert.equal(stats.scope('client', 'UserService').scope('node', '10.0.0.1:9090'), node, 'scopes are memoized');
  node.counter('requests').incr();
  node.counter('requests').incr(2);
  node.gauge('in_flight').incr();
  node.histogram('latency_ms').add(1.2);
  let poolSize = 3;
  node.gaugeFn('pool_size', () => poolSize);
  node.recordState('alive', 1000);
  node.recordState('alive', 1500); // same state: not a change
  node.recordState('dead', 2000);
  node.recordState('probing', 3000);
  node.recordState('alive', 4000); // history of 3: the first change is dropped
  stats.scope('client', 'Empty'); // no metrics: left out

  poolSize = 4;
  const snap = stats.snapshot();
  const round = JSON.parse(JSON.stringify(snap)) as typeof snap;
  assert.deepEqual(round, snap, 'snapshot is plain JSON');
  assert.deepEqual(Object.keys(snap.scopes), ['client=UserService/node=10.0.0.1:9090']);
  const s = snap.scopes['client=UserService/node=10.0.0.1:9090']!;
  assert.deepEqual(s.labels, { client: 'UserService', node: '10.0.0.1:9090' });
  assert.deepEqual(s.counters, { requests: 3 });
  assert.deepEqual(s.gauges, { in_flight: 1, pool_size: 4 });
  assert.equal(s.histograms['latency_ms']!.count, 1);
  assert.ok(Math.abs(s.histograms['latency_ms']!.p50 - 1.2) < 0.001);
  assert.deepEqual(s.state, {
    current: 'alive',
    since: 4000,
    changes: [
      { state: 'dead', at: 2000 },
      { state: 'probing', at: 3000 },
      { state: 'alive', at: 4000 },
    ],
  });

  node.remove();
  assert.deepEqual(stats.snapshot().scopes, {});
});

describe('the stats role of a real client stack', () => {
  let server: ThriftServer;
  let client: RichClient & ClientControl;
  const stats = new StatsRegistry();
  before(async () => {
    server = await Thrift.serve(RichService, makeRichHandler());
    client = Thrift.newBuilder(RichService).withStats(stats).withLabel('RichService').build(`tcp://127.0.0.1:${server.port}`);
  });
  after(async () => {
    await client.$close();
    await server.close();
  });

  test('a bad signal option is an InvalidArgumentError and leaves no call counted in flight', async () => {
    const before = stats.snapshot().scopes['client=RichService']?.gauges['in_flight'] ?? 0;
    for (const bad of [{}, 'x']) {
      await assert.rejects(client.ping!({ signal: bad as unknown as AbortSignal }), (e: unknown) => (e as Error).name === 'InvalidArgumentError');
    }
    assert.equal(stats.snapshot().scopes['client=RichService']?.gauges['in_flight'] ?? 0, before);
  });

  test('counts outcomes by code; declared exceptions are successes', async () => {
    assert.match(client.$stack.describe(), /stats[\s\S]*timeout[\s\S]*serializer/);
    assert.equal(client.$stats, stats);
    await client.ping!();
    await client.echoString!('x');
    await assert.rejects(client.lookup!('missing'), (e: unknown) => outcomeCode(e) === 'USER_EXCEPTION');
    await assert.rejects(client.crash!('boom'), (e: unknown) => outcomeCode(e) === 'APPLICATION');
    await assert.rejects(client.sleep!(500, 't', { timeout: 30 }), (e: unknown) => outcomeCode(e) === 'TIMEOUT');
    const pending = client.sleep!(40, 'in flight');
    assert.equal(stats.snapshot().scopes['client=RichService']!.gauges['in_flight'], 1);
    await pending;

    const s = stats.snapshot().scopes['client=RichService']!;
    assert.deepEqual(s.counters, {
      requests: 6,
      successes: 4,
      failures: 2,
      user_exceptions: 1,
      'failures.APPLICATION': 1,
      'failures.TIMEOUT': 1,
      nodes_added: 1,
      nodes_removed: 0,
    });
    assert.equal(s.gauges['in_flight'], 0);
    const lat = s.histograms['latency_ms']!;
    assert.equal(lat.count, 6);
    assert.ok(lat.max >= 40 && lat.max < 1000, `max latency ${lat.max}`);
    assert.ok(lat.min < 40);

    // The node's own scope saw the same calls below the serializer: a declared exception is a
    // plain reply there, and the timed-out call was abandoned on its connection.
    const node = stats.snapshot().scopes[`client=RichService/node=127.0.0.1:${server.port}`]!;
    assert.equal(node.counters['requests'], 6);
    assert.equal(node.counters['failures.APPLICATION'], 1);
    assert.equal(node.counters['failures.TIMEOUT'], 1);
    assert.equal(node.state?.current, 'alive');
    // Its latencies end when the reply's socket read arrived (handed up as onReply(reply, at)), not at a later clock read.
    const nodeLat = node.histograms['latency_ms']!;
    assert.equal(nodeLat.count, 6);
    assert.ok(nodeLat.max >= 40 && nodeLat.max <= lat.max + 0.1, `node max ${nodeLat.max} ms, client max ${lat.max} ms`);
  });

  test('a slow reply is timed as slow, at the client and at its node', async () => {
    const before = stats.snapshot().scopes[`client=RichService/node=127.0.0.1:${server.port}`]!.histograms['latency_ms']!.count;
    for (let i = 0; i < 3; i++) await client.sleep!(60, 'slow');
    const snap = stats.snapshot();
    const node = snap.scopes[`client=RichService/node=127.0.0.1:${server.port}`]!.histograms['latency_ms']!;
    assert.equal(node.count, before + 3);
    assert.ok(node.max >= 60 && node.max < 1000, `node max ${node.max} ms`);
    assert.ok(node.p99 >= 60, `node p99 ${node.p99} ms`);
  });
});
