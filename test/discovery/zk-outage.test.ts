// ZooKeeper trouble under load: the ensemble stopped for 10 s and restarted, and a forced expiry
// of the client's session. Zero failed calls: the set is never emptied because ZooKeeper is away,
// and is reconciled afterwards (a server that announced meanwhile is picked up).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { discoveryStats } from '../../src/discovery/observe.js';
import { ZkServerSet } from '../../src/discovery/zk/serverset.js';
import { Thrift, type ClientControl, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { StatsRegistry } from '../../src/stats/registry.js';
import { type EchoClient, EchoService } from '../fixtures/echo-service.js';
import { startZooKeeper, type ZooKeeperServer } from '../harness/zookeeper.js';
import { expireSession, startProxy, waitFor } from './zk-util.js';

let zk: ZooKeeperServer;
const servers: ThriftServer[] = [];
before(async () => {
  zk = await startZooKeeper();
});
after(async () => {
  await Promise.all(servers.map((s) => s.close(100)));
  await zk.close();
});

async function server(name: string, uri: string, wait = true): Promise<ThriftServer> {
  const s = await Thrift.serve(EchoService, { echo: (id) => ({ id, payload: name }) }, { onError: false });
  servers.push(s);
  const announced = s.announce(uri, { log: false, timeoutMs: 60_000 });
  if (wait) await announced;
  else announced.catch(() => undefined);
  return s;
}

function load(client: EchoClient, workers = 8) {
  const by = new Map<string, number>();
  const failures: string[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    let i = 0n;
    while (running) {
      try {
        const r = await client.echo(i++, 0, '');
        by.set(r.payload, (by.get(r.payload) ?? 0) + 1);
      } catch (err) {
        failures.push(String(err));
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
  return { by, failures, count: (n: string) => by.get(n) ?? 0, stop: () => ((running = false), Promise.all(loops)) };
}

function nodes(stats: StatsRegistry): number {
  for (const s of Object.values(stats.snapshot().scopes)) if (s.labels['node'] === undefined && s.gauges['nodes'] !== undefined) return s.gauges['nodes']!;
  return -1;
}

test('ZooKeeper stopped for 10 s and restarted: zero failed calls, and a server that announced meanwhile is picked up', async (t) => {
  const uri = `zk://${zk.connectString}/services/outage`;
  for (const n of ['a', 'b', 'c']) await server(n, uri);
  const client = Thrift.newBuilder(EchoService).withTimeout(5000).build(uri) as unknown as EchoClient & ClientControl;
  t.after(() => client.$close());
  await waitFor('three nodes', () => nodes(client.$stats) === 3);
  const l = load(client);
  await waitFor('traffic', () => l.count('a') + l.count('b') + l.count('c') > 300);
  await zk.stop();
  const stoppedAt = Date.now();
  // The server that joins while ZooKeeper is away registers as soon as it is back.
  await server('d', uri, false);
  let minNodes = 3;
  while (Date.now() - stoppedAt < 10_000) {
    minNodes = Math.min(minNodes, nodes(client.$stats));
    await new Promise((r) => setTimeout(r, 50));
  }
  const duringOutage = l.count('a') + l.count('b') + l.count('c');
  await zk.start();
  const restartedAt = Date.now();
  await waitFor('d picked up', () => nodes(client.$stats) === 4, 20_000);
  const dAfter = Date.now() - restartedAt;
  await waitFor('traffic on d', () => l.count('d') > 100);
  await l.stop();
  const scope = discoveryStats.snapshot().scopes[`discovery=${uri}`]!;
  t.diagnostic(
    `calls ${[...l.by].map(([k, v]) => `${k}=${v}`).join(' ')} (${duringOutage} by the end of the outage); d in the set ${dAfter} ms after the restart; zk counters ${JSON.stringify(scope.counters)}`,
  );
  assert.equal(minNodes, 3, 'the set was never emptied while ZooKeeper was away');
  assert.deepEqual(l.failures, []);
  assert.ok((scope.counters['zk_disconnects'] ?? 0) >= 1);
  assert.ok((scope.counters['zk_reconnects'] ?? 0) + (scope.counters['zk_sessions'] ?? 0) >= 2);
});

test("a forced expiry of the client's session under load: zero failed calls, the set reconciled", async () => {
  const uri = `zk://${zk.connectString}/services/expiry`;
  const proxy = await startProxy(zk.port);
  const stats = new StatsRegistry();
  const set = new ZkServerSet(`zk://127.0.0.1:${proxy.port}/services/expiry`, { log: false, stats, sessionTimeoutMs: 4000 });
  await server('a', uri);
  await server('b', uri);
  const client = Thrift.newBuilder(EchoService).withTimeout(5000).build(set) as unknown as EchoClient & ClientControl;
  await waitFor('two nodes', () => nodes(client.$stats) === 2);
  const l = load(client);
  await waitFor('traffic', () => l.count('a') > 100 && l.count('b') > 100);
  proxy.block();
  const c = await server('c', uri); // joins while the client is cut off
  await expireSession(zk.connectString, proxy, set.zkSession.credentials());
  await waitFor('c picked up', () => nodes(client.$stats) === 3);
  await waitFor('traffic on c', () => l.count('c') > 100);
  await l.stop();
  await client.$close();
  set.close();
  await proxy.close();
  assert.deepEqual(l.failures, []);
  const counters = Object.values(stats.snapshot().scopes)[0]!.counters;
  assert.equal(counters['zk_expirations'], 1);
  assert.ok(c.port > 0);
});
