// dns:// against a real (small, local) DNS server: A/AAAA with the TTL driving re-resolution,
// SRV, the last set kept while the resolver fails, hosts-file names, and a client routing over it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DnsServerSet } from '../../src/discovery/dns.js';
import { endpointKey } from '../../src/discovery/endpoint.js';
import { resolveDestination } from '../../src/discovery/resolve.js';
import { Thrift, type ClientControl } from '../../src/protocols/thrift/index.js';
import { StatsRegistry } from '../../src/stats/registry.js';
import { type EchoClient, EchoService } from '../fixtures/echo-service.js';
import { startDnsServer, type TestDnsServer } from './dns-server.js';
import { waitFor } from './zk-util.js';

let dns: TestDnsServer;
const sets: DnsServerSet[] = [];
before(async () => {
  dns = await startDnsServer();
});
after(async () => {
  for (const s of sets) s.close();
  await dns.close();
});

function watch(uri: string, o: { intervalMs?: number } = {}) {
  const stats = new StatsRegistry();
  const lines: string[] = [];
  const set = new DnsServerSet(uri, { servers: [dns.address], log: (l, m) => lines.push(`${l} ${m}`), stats, retryMs: 200, ...o });
  sets.push(set);
  return { set, lines, counters: () => Object.values(stats.snapshot().scopes)[0]?.counters ?? {} };
}

const keys = (s: DnsServerSet) => s.addresses.map(endpointKey).sort();

describe('dns:// serverset', () => {
  test('A and AAAA records, re-resolved when their TTL runs out', async () => {
    dns.zones.set('users.test', { a: ['127.0.0.1', '127.0.0.2'], aaaa: ['::1'], ttl: 1 });
    const { set } = watch('dns://users.test:9090');
    await set.ready();
    assert.deepEqual(keys(set), ['127.0.0.1:9090', '127.0.0.2:9090', '[::1]:9090']);
    dns.zones.set('users.test', { a: ['127.0.0.3'], ttl: 1 });
    const ms = await waitFor('the new answer', () => keys(set).join() === '127.0.0.3:9090', 5000);
    assert.ok(ms < 4000, `took ${ms} ms with a 1 s TTL`);
  });

  test('SRV records: each target and port of the best priority', async () => {
    dns.zones.set('_echo._tcp.svc.test', {
      srv: [
        { priority: 10, weight: 5, port: 7001, target: 'a.svc.test' },
        { priority: 10, weight: 5, port: 7002, target: 'b.svc.test' },
        { priority: 20, weight: 5, port: 7003, target: 'backup.svc.test' },
      ],
    });
    const { set } = watch('dns://_echo._tcp.svc.test', { intervalMs: 300 });
    await set.ready();
    assert.deepEqual(keys(set), ['a.svc.test:7001', 'b.svc.test:7002']);
    dns.zones.set('_echo._tcp.svc.test', { srv: [{ priority: 10, weight: 5, port: 7002, target: 'b.svc.test' }] });
    await waitFor('the interval re-resolve', () => keys(set).join() === 'b.svc.test:7002', 5000);
  });

  test('a failing resolver keeps the last set, and the set follows again once it answers', async () => {
    dns.zones.set('flaky.test', { a: ['127.0.0.5'], ttl: 1 });
    const { set, lines, counters } = watch('dns://flaky.test:80');
    await set.ready();
    let emptied = false;
    set.subscribe((a) => (emptied ||= a.length === 0));
    dns.failing = true;
    await waitFor('a failed lookup', () => (counters()['lookup_errors'] ?? 0) >= 2, 8000);
    assert.deepEqual(keys(set), ['127.0.0.5:80']);
    assert.ok(lines.some((l) => l.startsWith('warn') && l.includes('keeping the last 1 endpoint(s)')));
    dns.zones.set('flaky.test', { a: ['127.0.0.6'], ttl: 1 });
    dns.failing = false;
    await waitFor('the answer after the outage', () => keys(set).join() === '127.0.0.6:80', 8000);
    assert.equal(emptied, false);
  });

  test('a name DNS does not know falls back to the system resolver (localhost)', async () => {
    const { set } = watch('dns://localhost:9091');
    await set.ready();
    assert.ok(set.addresses.length >= 1);
    for (const e of set.addresses) assert.match(endpointKey(e), /^(127\.0\.0\.1|\[::1\]):9091$/);
  });

  test('bad dns:// destinations are InvalidArgumentErrors; dns:// is a registered scheme', () => {
    for (const bad of ['dns://users.test', 'dns://users.test:0', 'dns://:80', 'dns://_x._sctp.test']) assert.throws(() => new DnsServerSet(bad), { code: 'SCALES_ERR_INVALID_ARGUMENT' }, bad);
    const r = resolveDestination('dns://localhost:9092');
    assert.ok(r.serverSet instanceof DnsServerSet);
    r.serverSet.close();
  });

  test('a Thrift client routes over dns://', async () => {
    const servers = await Promise.all([0, 1].map((i) => Thrift.serve(EchoService, { echo: (id) => ({ id, payload: `s${i}` }) }, { host: `127.0.0.${i + 1}`, port: 0, onError: false })));
    // Both on one port number would need two hosts binding it; SRV carries each port instead.
    dns.zones.set('_echo._tcp.live.test', { srv: servers.map((s) => ({ priority: 0, weight: 1, port: s.port, target: s.host })) });
    const set = new DnsServerSet('dns://_echo._tcp.live.test', { servers: [dns.address], log: false });
    sets.push(set);
    await set.ready();
    const client = Thrift.newClient(EchoService, set, { timeout: 2000 }) as unknown as EchoClient & ClientControl;
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) seen.add((await client.echo(BigInt(i), 0, '')).payload);
    await client.$close();
    await Promise.all(servers.map((s) => s.close(100)));
    assert.deepEqual([...seen].sort(), ['s0', 's1']);
  });
});
