// Servers announcing into ZooKeeper, and clients following them: our announcer's exact bytes and
// its leave-before-drain, a kazoo peer writing members as Finagle/Aurora servers do (joins and
// leaves reach the balancer within 1 s under load, no failed call), a server killed with kill -9
// (its member leaves when its session expires; traffic moves), and re-announcing after expiry.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ZkAnnouncement } from '../../src/discovery/zk/announcer.js';
import { ZkServerSet } from '../../src/discovery/zk/serverset.js';
import { Thrift, type ClientControl, type ThriftServer } from '../../src/protocols/thrift/index.js';
import type { StatsRegistry } from '../../src/stats/registry.js';
import { type EchoClient, EchoService } from '../fixtures/echo-service.js';
import { freePort } from '../harness/ports.js';
import { startProcess, type ProcessHandle } from '../harness/process.js';
import { startZooKeeper, type ZooKeeperServer } from '../harness/zookeeper.js';
import { expireSession, startProxy, waitFor, ZkWriter } from './zk-util.js';

let zk: ZooKeeperServer;
let writer: ZkWriter;
let n = 0;
const cleanups: (() => unknown)[] = [];

before(async () => {
  zk = await startZooKeeper();
  writer = await ZkWriter.connect(zk.connectString);
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  writer.close();
  await zk.close();
});

const uriFor = () => `zk://127.0.0.1:${zk.port}/services/ann${++n}`;

/** An in-process echo server whose replies say which server answered. */
async function namedServer(name: string): Promise<ThriftServer> {
  const s = await Thrift.serve(EchoService, { echo: (id, delayMs) => (delayMs > 0 ? new Promise((r) => setTimeout(r, delayMs, { id, payload: name })) : { id, payload: name }) }, { onError: false });
  cleanups.push(() => s.close(100));
  return s;
}

function zkClient(uri: string): EchoClient & ClientControl {
  const c = Thrift.newBuilder(EchoService).withTimeout(5000).withIdempotent(['echo']).build(uri) as unknown as EchoClient & ClientControl;
  cleanups.push(() => c.$close());
  return c;
}

function gauge(stats: StatsRegistry, name: string): number {
  for (const s of Object.values(stats.snapshot().scopes)) if (s.labels['node'] === undefined && s.gauges[name] !== undefined) return s.gauges[name]!;
  return -1;
}

/** Calls in a loop with `workers` in flight; counts replies by server and every failure. */
function load(client: EchoClient, workers = 16) {
  const by = new Map<string, number>();
  const failures: unknown[] = [];
  let running = true;
  let last = '';
  const loops = Array.from({ length: workers }, async (_, w) => {
    let i = 0n;
    while (running) {
      try {
        const r = await client.echo(i++, 1, `w${w}`);
        by.set(r.payload, (by.get(r.payload) ?? 0) + 1);
        last = r.payload;
      } catch (err) {
        failures.push(err);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
  return {
    by,
    failures,
    get last() {
      return last;
    },
    count: (name: string) => by.get(name) ?? 0,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** A kazoo member for `port`; SIGUSR1 makes it leave, SIGUSR2 toggles its status ALIVE/STOPPING. */
function spawnKazoo(uri: string, port: number): Promise<ProcessHandle> {
  const u = new URL(uri.replace(/^zk:/, 'http:'));
  return startProcess({
    cmd: '/usr/bin/python3',
    args: ['test/peers/zk_member.py', '--zk', u.host, '--path', u.pathname, '--host', '127.0.0.1', '--port', String(port)],
    ready: /^MEMBER (\S+)/,
    timeoutMs: 20_000,
  });
}

describe('announcing into ZooKeeper', () => {
  test("the announcer writes Finagle's exact record in an ephemeral sequential member_, and leaves before draining", async () => {
    const uri = uriFor();
    const server = await namedServer('a');
    const a = await server.announce(uri, { endpoints: { admin: { host: '127.0.0.1', port: 9999 } }, shard: 2, log: false });
    assert.match(a.node ?? '', new RegExp(`^${new URL(uri.replace(/^zk:/, 'http:')).pathname}/member_\\d{10}$`));
    assert.equal(
      (await writer.getData(a.node!)).toString(),
      `{"serviceEndpoint":{"host":"127.0.0.1","port":${server.port}},"additionalEndpoints":{"admin":{"host":"127.0.0.1","port":9999}},"status":"ALIVE","shard":2}`,
    );
    const set = new ZkServerSet(uri, { log: false });
    cleanups.push(() => set.close());
    await waitFor('the member', () => set.addresses.length === 1);
    const client = zkClient(uri);
    await waitFor('the client', () => gauge(client.$stats, 'nodes') === 1);
    // A slow call is running when the server closes: the member must be gone before it ends.
    let leftAt = 0;
    set.subscribe((s) => s.length === 0 && (leftAt ||= performance.now()));
    const slow = client.echo(1n, 700, 'slow').then((r) => ({ r, at: performance.now() }));
    await new Promise((r) => setTimeout(r, 100));
    const closing = server.close(3000);
    const { r, at } = await slow;
    await closing;
    assert.equal(r.payload, 'a', 'the running call is answered');
    assert.ok(leftAt > 0 && leftAt < at, 'the member left before the running call finished');
    assert.deepEqual(await writer.children(new URL(uri.replace(/^zk:/, 'http:')).pathname), []);
  });

  test('kazoo peers writing Finagle members: joins and leaves reach the balancer within 1 s under load, no failed call', async (t) => {
    const uri = uriFor();
    const [sa, sb, sc] = await Promise.all([namedServer('a'), namedServer('b'), namedServer('c')]);
    const pa = await spawnKazoo(uri, sa.port);
    cleanups.push(() => pa.stop());
    await sb.announce(uri, { log: false });
    const client = zkClient(uri);
    await waitFor('two nodes', () => gauge(client.$stats, 'nodes') === 2);
    const l = load(client);
    await waitFor('traffic on a and b', () => l.count('a') > 50 && l.count('b') > 50);
    // join: a third server through kazoo
    const joinStart = performance.now();
    const pc = await spawnKazoo(uri, sc.port);
    cleanups.push(() => pc.stop());
    const joinWritten = performance.now();
    await waitFor('c joins the balancer', () => gauge(client.$stats, 'nodes') === 3);
    const joinMs = performance.now() - joinWritten;
    await waitFor('traffic on c', () => l.count('c') > 50);
    // leave: the first kazoo member deletes its node
    const leaveWritten = performance.now();
    pa.kill('SIGUSR1');
    await waitFor('a leaves the balancer', () => gauge(client.$stats, 'nodes') === 2);
    const leaveMs = performance.now() - leaveWritten;
    const aAfterLeave = l.count('a');
    await new Promise((r) => setTimeout(r, 300));
    await l.stop();
    t.diagnostic(
      `join visible in ${joinMs.toFixed(1)} ms (peer started in ${(joinWritten - joinStart).toFixed(0)} ms), leave in ${leaveMs.toFixed(1)} ms; calls ${[...l.by].map(([k, v]) => `${k}=${v}`).join(' ')}; failures ${l.failures.length}`,
    );
    assert.ok(joinMs < 1000, `join took ${joinMs} ms`);
    assert.ok(leaveMs < 1000, `leave took ${leaveMs} ms`);
    assert.ok(pa.output().includes('LEFT'));
    assert.ok(l.count('a') - aAfterLeave <= 16, `${l.count('a') - aAfterLeave} calls reached a after it left (only the 16 in flight may finish there)`);
    assert.deepEqual(l.failures, []);
  });

  test('a status change written by kazoo takes the member out of rotation and back', async () => {
    const uri = uriFor();
    const [sa, sb] = await Promise.all([namedServer('a'), namedServer('b')]);
    const pa = await spawnKazoo(uri, sa.port);
    cleanups.push(() => pa.stop());
    await sb.announce(uri, { log: false });
    const client = zkClient(uri);
    await waitFor('two nodes', () => gauge(client.$stats, 'nodes') === 2);
    pa.kill('SIGUSR2');
    await waitFor('a out', () => gauge(client.$stats, 'nodes') === 1);
    pa.kill('SIGUSR2');
    await waitFor('a back', () => gauge(client.$stats, 'nodes') === 2);
  });

  test('a server killed with kill -9 leaves when its session expires, and traffic moves', async (t) => {
    const uri = uriFor();
    const spawnServer = (name: string) =>
      startProcess({
        cmd: process.execPath,
        args: ['--import', 'tsx', 'test/peers/zk_announced_server.ts', '--zk', uri, '--name', name, '--session-timeout-ms', '4000'],
        ready: /^READY (\d+) (\S+)/,
        timeoutMs: 30_000,
      });
    const [p1, p2] = await Promise.all([spawnServer('p1'), spawnServer('p2')]);
    cleanups.push(
      () => p1.stop(),
      () => p2.stop(),
    );
    const client = zkClient(uri);
    await waitFor('two nodes', () => gauge(client.$stats, 'nodes') === 2, 15_000);
    const l = load(client, 8);
    await waitFor('traffic on both', () => l.count('p1') > 20 && l.count('p2') > 20);
    const killedAt = performance.now();
    p1.kill('SIGKILL');
    await p1.exited;
    await waitFor('p1 leaves', () => gauge(client.$stats, 'nodes') === 1, 15_000);
    const leftMs = performance.now() - killedAt;
    const p2Before = l.count('p2');
    await waitFor('traffic on p2 alone', () => l.count('p2') > p2Before + 100);
    await l.stop();
    t.diagnostic(`member left ${leftMs.toFixed(0)} ms after kill -9 (session timeout 4000 ms); calls ${[...l.by].map(([k, v]) => `${k}=${v}`).join(' ')}; failures ${l.failures.length}`);
    assert.ok(leftMs > 2000, 'the member stays until its session expires (ZooKeeper cannot know sooner)');
    assert.ok(leftMs < 12_000, `left after ${leftMs} ms`);
    assert.equal(l.last, 'p2');
  });

  test('an announcement whose session expires is made again', async () => {
    const uri = uriFor();
    const proxy = await startProxy(zk.port);
    cleanups.push(() => proxy.close());
    const a = new ZkAnnouncement(uri.replace(`:${zk.port}/`, `:${proxy.port}/`), { host: '127.0.0.1', port: 4242 }, { sessionTimeoutMs: 4000, log: false });
    cleanups.push(() => a.withdraw());
    await a.registered(10_000);
    const first = a.node!;
    const set = new ZkServerSet(uri, { log: false });
    cleanups.push(() => set.close());
    await waitFor('the member', () => set.addresses.length === 1);
    await expireSession(zk.connectString, proxy, a.zkSession.credentials());
    await waitFor('a new member', () => a.node !== undefined && a.node !== first);
    await waitFor('one member again', () => set.memberNames.length === 1 && set.memberNames[0] === a.node!.split('/').pop());
    assert.deepEqual(set.addresses, [{ host: '127.0.0.1', port: 4242 }]);
    // Deleted by someone else: made again too.
    const second = a.node!;
    await writer.remove(second);
    await waitFor('a third member', () => a.node !== undefined && a.node !== second);
    await waitFor('the set follows', () => set.memberNames.length === 1 && set.memberNames[0] === a.node!.split('/').pop());
  });
});

describe('a client made from a zk:// string', () => {
  test('its first calls wait for the first read and succeed (no NoNodes at start)', async () => {
    const uri = uriFor();
    const s = await namedServer('first');
    await s.announce(uri, { log: false });
    const c = zkClient(uri); // no ready(): the calls are made before ZooKeeper has answered
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => c.echo(BigInt(i), 0, 'x')));
    assert.deepEqual(
      replies.map((r) => r.payload),
      Array(20).fill('first'),
    );
  });

  test('an unreachable ensemble: calls fail at their deadline as timeouts, not as NoNodes at once', async () => {
    const uri = `zk://127.0.0.1:${await freePort()}/services/unreachable`; // nothing listens there
    const c = Thrift.newBuilder(EchoService).withTimeout(300).build(uri) as unknown as EchoClient & ClientControl;
    cleanups.push(() => c.$close());
    const started = performance.now();
    await assert.rejects(c.echo(1n, 0, 'x'), { code: 'SCALES_ERR_TIMEOUT' });
    assert.ok(performance.now() - started >= 250, 'held until its deadline');
  });
});
