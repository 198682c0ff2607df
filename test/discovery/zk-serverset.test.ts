// zk:// against a real ZooKeeper: a path that comes and goes, bad records beside good ones, two
// members on one endpoint, status changes, a forced session expiry and 1,000 members.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { endpointKey, type Endpoint } from '../../src/discovery/endpoint.js';
import { resolveDestination } from '../../src/discovery/resolve.js';
import { StatsRegistry } from '../../src/stats/registry.js';
import { ZkServerSet } from '../../src/discovery/zk/serverset.js';
import { freePort } from '../harness/ports.js';
import { startZooKeeper, type ZooKeeperServer } from '../harness/zookeeper.js';
import { expireSession, finagleMember, PERSISTENT, startProxy, waitFor, ZkWriter } from './zk-util.js';

let zk: ZooKeeperServer;
let writer: ZkWriter;
const sets: ZkServerSet[] = [];
let n = 0;

before(async () => {
  zk = await startZooKeeper();
  writer = await ZkWriter.connect(zk.connectString);
});
after(async () => {
  for (const s of sets) s.close();
  writer.close();
  await zk.close();
});

function keys(s: { addresses: readonly Endpoint[] }): string[] {
  return s.addresses.map(endpointKey).sort();
}

/** A set on a fresh path, with its log lines and stats kept for the test. */
function watch(suffix = '', port = zk.port) {
  const path = `/services/t${++n}`;
  const lines: string[] = [];
  const stats = new StatsRegistry();
  const set = new ZkServerSet(`zk://127.0.0.1:${port}${path}${suffix}`, { sessionTimeoutMs: 4000, log: (level, m) => lines.push(`${level} ${m}`), stats });
  sets.push(set);
  const counters = () => Object.values(stats.snapshot().scopes)[0]?.counters ?? {};
  return { path, set, lines, counters, stats };
}

describe('zk:// serverset', () => {
  test('a path that does not exist yet, then appears, then is deleted', async () => {
    const { path, set, lines } = watch();
    await set.ready();
    assert.deepEqual(set.addresses, []);
    assert.ok(lines.some((l) => l.includes('does not exist (yet)')));
    await writer.mkdirp(path);
    await writer.create(`${path}/member_`, finagleMember('127.0.0.1', 1001));
    await waitFor('the member', () => set.addresses.length === 1);
    assert.deepEqual(keys(set), ['127.0.0.1:1001']);
    await writer.removeRecursive(path);
    await waitFor('the path deleted', () => set.addresses.length === 0);
    assert.ok(lines.some((l) => l.includes('appeared')));
    // and back again
    await writer.mkdirp(path);
    await writer.create(`${path}/member_`, finagleMember('127.0.0.1', 1002));
    await waitFor('the member on the new path', () => keys(set).join() === '127.0.0.1:1002');
  });

  test('malformed JSON, a string port and a missing #name are skipped with a warning; the rest is served', async () => {
    const { path, set, lines, counters } = watch('#http');
    await writer.mkdirp(path);
    const http = (port: number) => ({ http: { host: '127.0.0.1', port } });
    // Good and bad members arrive in the same burst: none of the good ones may be lost.
    await Promise.all([
      writer.create(`${path}/member_`, finagleMember('127.0.0.1', 2001, { additional: http(3001) })),
      writer.create(`${path}/member_`, '{"serviceEndpoint": {"host": "127.0.0.1", "port": 2002'),
      writer.create(`${path}/member_`, JSON.stringify({ serviceEndpoint: { host: '127.0.0.1', port: 2003 }, additionalEndpoints: { http: { host: '127.0.0.1', port: '3003' } }, status: 'ALIVE' })),
      writer.create(`${path}/member_`, finagleMember('127.0.0.1', 2004)), // no 'http' endpoint
      writer.create(`${path}/member_`, finagleMember('127.0.0.1', 2005, { additional: http(3005) })),
      writer.create(`${path}/not_a_member`, finagleMember('127.0.0.1', 2006, { additional: http(3006) })),
    ]);
    await set.ready();
    await waitFor('both good members', () => set.addresses.length === 2);
    assert.deepEqual(keys(set), ['127.0.0.1:3001', '127.0.0.1:3005']);
    await waitFor('three warnings', () => lines.filter((l) => l.startsWith('warn') && l.includes('skipped')).length === 3);
    const warnings = lines.filter((l) => l.startsWith('warn')).join('\n');
    assert.match(warnings, /not JSON/);
    assert.match(warnings, /bad port "3003"/);
    assert.match(warnings, /no additional endpoint 'http'/);
    assert.equal(counters()['members_skipped'], 3);
    // A bad member fixed in place is picked up (its data is watched, not read once).
    const names = await writer.children(path);
    const bad = names.filter((c) => c.startsWith('member_')).sort()[3]!; // the one without 'http'
    await writer.setData(`${path}/${bad}`, finagleMember('127.0.0.1', 2004, { additional: http(3004) }));
    await waitFor('the fixed member', () => set.addresses.length === 3);
  });

  test('two members with one endpoint: the endpoint stays until both have left', async () => {
    const { path, set } = watch();
    await writer.mkdirp(path);
    const a = await writer.create(`${path}/member_`, finagleMember('127.0.0.1', 4001));
    const b = await writer.create(`${path}/member_`, finagleMember('127.0.0.1', 4001));
    await set.ready();
    await waitFor('both members', () => set.memberNames.length === 2);
    assert.deepEqual(keys(set), ['127.0.0.1:4001']);
    let changes = 0;
    set.subscribe(() => changes++);
    await writer.remove(a);
    await waitFor('the first leave', () => set.memberNames.length === 1);
    assert.deepEqual(keys(set), ['127.0.0.1:4001'], 'the other member still serves it');
    assert.equal(changes, 0);
    await writer.remove(b);
    await waitFor('the second leave', () => set.addresses.length === 0);
  });

  test('status is honoured, and a status change is seen', async () => {
    const { path, set } = watch();
    await writer.mkdirp(path);
    const m = await writer.create(`${path}/member_`, finagleMember('127.0.0.1', 5001, { status: 'STARTING' }));
    await writer.create(`${path}/member_`, finagleMember('127.0.0.1', 5002));
    await set.ready();
    await waitFor('two members read', () => set.memberNames.length === 2);
    assert.deepEqual(keys(set), ['127.0.0.1:5002']);
    await writer.setData(m, finagleMember('127.0.0.1', 5001));
    await waitFor('ALIVE now', () => set.addresses.length === 2);
    await writer.setData(m, finagleMember('127.0.0.1', 5001, { status: 'STOPPING' }));
    await waitFor('STOPPING now', () => set.addresses.length === 1);
  });

  test('a forced session expiry: the set is kept, and a member that joined meanwhile is picked up', async () => {
    const proxy = await startProxy(zk.port);
    const { path, set, counters } = watch('', proxy.port);
    await writer.mkdirp(path);
    const gone = await writer.create(`${path}/member_`, finagleMember('127.0.0.1', 6001));
    await writer.create(`${path}/member_`, finagleMember('127.0.0.1', 6002));
    await set.ready();
    await waitFor('two members', () => set.addresses.length === 2);
    let emptied = false;
    set.subscribe((a) => (emptied ||= a.length === 0));
    const before = set.zkSession.sessionId;
    // While it is cut off: its session is closed, one member joins and one leaves.
    proxy.block();
    await writer.create(`${path}/member_`, finagleMember('127.0.0.1', 6003));
    await writer.remove(gone);
    await expireSession(zk.connectString, proxy, set.zkSession.credentials());
    await waitFor('a new session', () => set.zkSession.sessionId !== before && set.zkSession.isConnected);
    await waitFor('the reconciled set', () => keys(set).join() === '127.0.0.1:6002,127.0.0.1:6003');
    assert.equal(emptied, false);
    assert.equal(counters()['zk_expirations'], 1);
    assert.equal(counters()['zk_sessions'], 2);
    await proxy.close();
  });

  test('1,000 members: one refresh reads them all, and one more join costs one read', async (t) => {
    const { path, set, counters, stats, lines } = watch();
    await writer.mkdirp(path);
    await writer.create(`${path}/placeholder`, '', PERSISTENT);
    await set.ready();
    const start = performance.now();
    const creates: Promise<string>[] = [];
    for (let i = 0; i < 1000; i++) creates.push(writer.create(`${path}/member_`, finagleMember('10.0.0.1', 10_000 + i)));
    await Promise.all(creates);
    const written = performance.now() - start;
    await waitFor('1,000 endpoints', () => set.addresses.length === 1000, 30_000);
    const seen = performance.now() - start;
    const refreshesBefore = counters()['refreshes'] ?? 0;
    const joinStart = performance.now();
    await writer.create(`${path}/member_`, finagleMember('10.0.0.2', 1));
    await waitFor('the 1,001st', () => set.addresses.length === 1001);
    const oneJoin = performance.now() - joinStart;
    const leaveStart = performance.now();
    await writer.remove(
      (await writer.children(path))
        .filter((c) => c.startsWith('member_'))
        .sort()[0]!
        .replace(/^/, `${path}/`),
    );
    await waitFor('one leave', () => set.addresses.length === 1000);
    const oneLeave = performance.now() - leaveStart;
    const c = counters();
    const h = Object.values(stats.snapshot().scopes)[0]!.histograms['refresh_ms']!;
    t.diagnostic(
      `1,000 creates written in ${written.toFixed(0)} ms, all in the set after ${seen.toFixed(0)} ms (${c['refreshes']} refreshes); one join on 1,000 visible in ${oneJoin.toFixed(1)} ms, one leave in ${oneLeave.toFixed(1)} ms; refresh_ms p50 ${h.p50.toFixed(1)} max ${h.max.toFixed(1)}`,
    );
    assert.ok((c['refreshes'] ?? 0) - refreshesBefore <= 3, 'one join is one refresh (or a few), not one per member');
    assert.equal(c['members_joined'], 1001);
    assert.ok(lines.length < 200, `${lines.length} log lines: member changes beyond 20 per update are summed up`);
    assert.ok(lines.some((l) => /\d+ more member change\(s\) in this update/.test(l)));
  });

  test('a chroot, and an ensemble string whose first server is down', async () => {
    const dead = await freePort();
    const path = `/services/t${++n}`;
    await writer.mkdirp(`/prod${path}`);
    await writer.create(`/prod${path}/member_`, finagleMember('127.0.0.1', 8001));
    await writer.mkdirp(path);
    await writer.create(`${path}/member_`, finagleMember('127.0.0.1', 8002)); // outside the chroot
    const set = new ZkServerSet(`zk://127.0.0.1:${dead},${zk.connectString}${path}?chroot=/prod`, { log: false, spinDelayMs: 100 });
    sets.push(set);
    await set.ready();
    await waitFor('the member under the chroot', () => set.addresses.length === 1);
    assert.deepEqual(keys(set), ['127.0.0.1:8001']);
  });

  test('a connect request that is never answered is dropped and tried again', async () => {
    const proxy = await startProxy(zk.port);
    proxy.hold(); // accepts the connection, never answers: the library alone would wait forever
    const { set, counters } = watch('', proxy.port);
    await new Promise((r) => setTimeout(r, 300));
    proxy.unblock();
    await waitFor('connected after the stall', () => set.zkSession.isConnected, 10_000);
    await set.ready();
    assert.equal(counters()['zk_connect_stalls'], 1);
    set.close();
    await proxy.close();
  });

  test('zk:// is a registered destination scheme', async () => {
    const path = `/services/t${++n}`;
    await writer.mkdirp(path);
    await writer.create(`${path}/member_`, finagleMember('127.0.0.1', 7001));
    const { serverSet, owned, label } = resolveDestination(`zk://${zk.connectString}${path}`);
    try {
      assert.ok(serverSet instanceof ZkServerSet);
      assert.equal(owned, true);
      assert.equal(label, `zk://${zk.connectString}${path}`);
      await waitFor('the member', () => serverSet.addresses.length === 1);
    } finally {
      serverSet.close();
    }
  });
});
