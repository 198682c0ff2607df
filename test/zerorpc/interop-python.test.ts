// Interop with a Python peer speaking ZeroRPC as zerorpc-python does (test/peers/zerorpc_peer.py,
// from Debian's python3-zmq + python3-msgpack; the zerorpc package itself is not installable here).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../harness/tmp.js';
import { LostRemoteError, RemoteError, ZeroRpc, type ZeroServer } from '../../src/protocols/zerorpc/index.js';
import { Calc, type CalcApi } from './calc.js';
import { pythonPeerMissing, runPyClient, startPyServer, type PyServer } from './python-peer.js';

const missing = await pythonPeerMissing();

describe('Python client → our server', { skip: missing }, () => {
  let server: ZeroServer;
  before(async () => {
    server = await ZeroRpc.serve(new Calc(), { bind: 'tcp://127.0.0.1:*', heartbeat: 300, quiet: true });
  });
  after(() => server.close(100));

  it('every check of the Python client passes (calls, types, errors, streams and credit, introspection, a call outliving 2 heartbeats)', async () => {
    const run = await runPyClient(server.endpoints[0]!, ['--heartbeat', '0.3', '--slow', '1000']);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { check?: string; ok?: boolean; detail?: string; done?: boolean; passed?: number; failed?: number });
    const failed = lines.filter((l) => l.check !== undefined && !l.ok);
    assert.deepEqual(failed, [], run.stderr);
    const done = lines.find((l) => l.done === true);
    assert.ok(done !== undefined && done.passed! >= 18 && done.failed === 0, run.stdout + run.stderr);
    assert.equal(run.code, 0);
  });
});

describe('our client → Python server', { skip: missing }, () => {
  let py: PyServer;
  let logFile: string;
  let dir: ReturnType<typeof tempDir>;
  before(async () => {
    dir = tempDir('zerorpc-py');
    logFile = join(dir.path, 'events.jsonl');
    py = await startPyServer(['--heartbeat', '0.3', '--log', logFile]);
  });
  after(async () => {
    await py.stop();
    dir.remove();
  });

  const received = () =>
    readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { name: string; args: unknown; id_type: string; channel: boolean });

  it('calls, values of every msgpack type, remote errors, unknown methods', async () => {
    const c = ZeroRpc.newClient<CalcApi>(py.endpoint, { heartbeat: 300 });
    assert.equal(await c.add(1, 2), 3);
    assert.equal(await c.add(40), 42);
    const values = { s: 'héllo ✓', b: Buffer.from([0, 255, 16]), i: [0, -1, 127, 128, 255, 65535, 2 ** 31, 2 ** 40, -(2n ** 63n), 2n ** 64n - 1n], f: 1.5, t: true, n: null, l: [1, [2, [3]]] };
    assert.deepEqual(await c.echo(values), values);
    const err = await c.boom().catch((e: unknown) => e);
    assert.ok(err instanceof RemoteError && err.remoteName === 'ValueError' && err.remoteMessage === 'bad thing' && /Traceback/.test(err.remoteTraceback));
    const unknown = await c.$call('nosuch').catch((e: unknown) => e);
    assert.ok(unknown instanceof RemoteError && unknown.remoteName === 'NameError' && unknown.remoteMessage === 'nosuch');
    assert.deepEqual(await c.$call('_zerorpc_ping'), ['pong', 'Calc']);
    await c.$close();
    const requests = received().filter((e) => !e.channel && !e.name.startsWith('_zpc'));
    assert.ok(
      requests.every((e) => e.id_type === 'bytes'),
      'message ids are bin, as Python sends them',
    );
  });

  it('streams of 0, 1 and 2,000 items; credit as Python grants it', async () => {
    const c = ZeroRpc.newClient<CalcApi>(py.endpoint, { heartbeat: 300 });
    assert.deepEqual(await (await c.count(0)).toArray(), []);
    assert.deepEqual(await (await c.count(1)).toArray(), [0]);
    const before = received().length;
    const items = await (await c.count(2000)).toArray();
    assert.deepEqual(
      items,
      Array.from({ length: 2000 }, (_, i) => i),
    );
    const grants = received()
      .slice(before)
      .filter((e) => e.name === '_zpc_more');
    assert.deepEqual(grants[0]!.args, [100]);
    assert.ok(grants.slice(1).every((g) => (g.args as number[])[0] === 51));
    assert.ok(grants.length >= 38 && grants.length <= 40, `${grants.length} grants`);
    // A grant may cross the STREAM_DONE on the wire (Python's own race); never more than that one.
    assert.ok(grants.filter((g) => !g.channel).length <= 1, 'at most one grant reached a closed channel');
    await c.$close();
  });

  it('a call longer than two heartbeats survives: our client heartbeats the channel', async () => {
    const c = ZeroRpc.newClient<CalcApi>(py.endpoint, { heartbeat: 300 });
    assert.equal(await c.slow(1.2), 'done');
    const hbs = received().filter((e) => e.name === '_zpc_hb' && e.channel);
    assert.ok(hbs.length >= 2, `${hbs.length} heartbeats`);
    await c.$close();
  });

  it('a stopped server (SIGSTOP) is a LostRemoteError after 2-3 heartbeat intervals', async () => {
    const c = ZeroRpc.newClient<CalcApi>(py.endpoint, { heartbeat: 300, timeout: 30_000 });
    assert.equal(await c.add(1, 1), 2);
    py.process.kill('SIGSTOP');
    const started = performance.now();
    try {
      const err = await c.add(2, 2).catch((e: unknown) => e);
      const took = performance.now() - started;
      assert.ok(err instanceof LostRemoteError, String(err));
      assert.match((err as Error).message, /Lost remote after 0.6s heartbeat/);
      assert.ok(took >= 550 && took < 5000, `${took} ms`);
    } finally {
      py.process.kill('SIGCONT');
    }
    await c.$close();
  });
});

describe('heartbeat defaults (5 s, lost after 2 missed)', { skip: missing }, () => {
  it('a SIGSTOPped Python server is a LostRemoteError after 10-15 s with the default heartbeat', async () => {
    const py = await startPyServer([]);
    const c = ZeroRpc.newClient<CalcApi>(py.endpoint);
    try {
      assert.equal(await c.add(1, 1), 2);
      py.process.kill('SIGSTOP');
      const started = performance.now();
      const err = await c.add(2, 2).catch((e: unknown) => e);
      const took = performance.now() - started;
      assert.ok(err instanceof LostRemoteError, String(err));
      assert.equal((err as Error).message, 'Lost remote after 10s heartbeat');
      assert.ok(took >= 9_500 && took < 17_000, `${Math.round(took)} ms`);
    } finally {
      py.process.kill('SIGCONT');
      await c.$close();
      await py.stop();
    }
  });
});
