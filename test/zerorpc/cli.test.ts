// `scales zerorpc`, in both modes, against our server (every client mode) and as a server
// process (a module's export served, then called through the CLI).
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { ZeroRpc, type ZeroServer } from '../../src/protocols/zerorpc/index.js';
import { startProcess } from '../harness/process.js';
import { Calc } from './calc.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['zerorpc', ...argv], { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('scales zerorpc (client)', () => {
  let server: ZeroServer;
  let addr: string;
  before(async () => {
    server = await ZeroRpc.serve(new Calc(), { bind: 'tcp://127.0.0.1:*', quiet: true });
    addr = server.endpoints[0]!;
  });
  after(() => server.close(100));

  it('no method: [name], then each method with its first doc line', async () => {
    const r = await run(addr);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trimEnd().split('\n');
    assert.equal(lines[0], '[Calc]');
    assert.match(lines[1]!, /^add +Add two numbers\.$/);
    assert.match(lines[2]!, /^boom +<undocumented>$/);
    assert.equal(lines.length, 7);
  });

  it('-? lists signatures; -? METHOD prints its signature and doc', async () => {
    const r = await run('-?', addr);
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.split('\n').includes('add(a, b=2)'), r.out);
    assert.ok(r.out.split('\n').includes('count(n)'), r.out);
    const one = await run('-?', addr, 'add');
    assert.equal(one.out, '\nadd(a, b=2)\n\nAdd two numbers.\n\n');
  });

  it('string arguments by default, JSON with -j; -pj prints JSON', async () => {
    assert.equal((await run(addr, 'add', '1', '2')).out, '12\n', 'strings, as the Python command sends them');
    assert.equal((await run('-j', addr, 'add', '1', '2')).out, '3\n');
    assert.equal((await run('-j', '-pj', addr, 'echo', '{"a":[1,"x",null]}')).out, '{"a":[1,"x",null]}\n');
    assert.equal((await run('-j', addr, 'add', '-1', '-2')).out, '-3\n', 'arguments after the method are never options');
  });

  it('streams print one item per line', async () => {
    assert.equal((await run('-j', addr, 'count', '3')).out, '0\n1\n2\n');
    assert.equal((await run('-j', '-pj', addr, 'echo', '"x"')).out, '"x"\n');
  });

  it('a remote error prints the remote traceback and exits 1', async () => {
    const r = await run(addr, 'boom');
    assert.equal(r.code, 1);
    assert.equal(r.err, 'ValueError: bad thing\n');
    const unknown = await run(addr, 'nosuch');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /NameError: nosuch/);
  });

  it('--connect, --timeout and --heartbeat', async () => {
    const r = await run('--connect', addr, '--timeout', '0.2', '--heartbeat', '1', '-j', 'slow', '2000');
    assert.equal(r.code, 1);
    assert.match(r.err, /timed out/);
    assert.equal((await run('--connect', addr, '-j', 'add', '5')).out, '7\n');
  });

  it('bad usage exits 2', async () => {
    assert.equal((await run('--timeout')).code, 2);
    assert.equal((await run('--server', 'x')).code, 2);
    assert.equal((await run('--bind', 'tcp://127.0.0.1:1', 'add')).code, 2, 'a Scales client connects');
  });
});

describe('scales zerorpc --server', () => {
  it('serves a module export (a class is instantiated), reachable by the client mode', async () => {
    const p = await startProcess({
      cmd: process.execPath,
      args: ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts'), 'zerorpc', '--server', '--bind', 'tcp://127.0.0.1:*', `${join(root, 'test', 'zerorpc', 'calc.ts')}:Calc`],
      ready: /^serving (\S+)/m,
      timeoutMs: 30_000,
      cwd: root,
    });
    try {
      const addr = p.readyMatch![1]!;
      assert.equal((await run('-j', addr, 'add', '40')).out, '42\n');
      assert.match((await run(addr)).out, /^\[Calc\]\n/);
    } finally {
      await p.stop();
    }
  });
});
