// The published shape: subpath exports resolve to the built files and the `scales` bin runs.
// (npm test builds dist/ before running the tests.)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('scales-rpc, scales-rpc/thrift and scales-rpc/http resolve to dist with their exports', async () => {
  const script =
    "const core = await import('scales-rpc'); const t = await import('scales-rpc/thrift'); const h = await import('scales-rpc/http');" +
    'console.log(JSON.stringify([typeof core.ScalesError, typeof core.Stack, typeof core.StaticServerSet, typeof core.RetryBudget, typeof t.Thrift.newClient, typeof t.loadIdl, typeof h.Http.newClient, typeof h.Http.newBuilder().withLoadBalancer]))';
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
  assert.deepEqual(JSON.parse(stdout), Array(8).fill('function'));
});

test('scales-rpc/thriftmux and scales-rpc/zerorpc resolve to dist with their entry points', async () => {
  const script =
    "const m = await import('scales-rpc/thriftmux'); const z = await import('scales-rpc/zerorpc');" +
    'console.log(JSON.stringify([typeof m.ThriftMux.newClient, typeof m.ThriftMux.serve, typeof z.ZeroRpc.newClient, typeof z.ZeroRpc.serve]))';
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
  assert.deepEqual(JSON.parse(stdout), Array(4).fill('function'));
});

test('the scales bin generates TypeScript from a .thrift file', async () => {
  const out = await mkdtemp(path.join(tmpdir(), 'scales-bin-'));
  try {
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string };
    const version = await run(process.execPath, ['bin/scales.js', '--version'], { cwd: root });
    assert.match(version.stdout, new RegExp(pkg.version.replaceAll('.', '\\.')));
    await run(process.execPath, ['bin/scales.js', 'gen', 'examples/idl/users.thrift', '-o', out], { cwd: root });
    const generated = await readFile(path.join(out, 'users.ts'), 'utf8');
    assert.match(generated, /export interface UserServiceClient/);
    assert.match(generated, /from 'scales-rpc\/thrift'/);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('package.json names each top-level key once (JSON keeps only the last of duplicates)', async () => {
  const text = await readFile(path.join(root, 'package.json'), 'utf8');
  const keys = [...text.matchAll(/^ {2}"([^"]+)":/gm)].map((m) => m[1]);
  const dupes = keys.filter((k, i) => keys.indexOf(k) !== i);
  assert.deepEqual(dupes, []);
  const pkg = JSON.parse(text) as { peerDependenciesMeta?: Record<string, { optional?: boolean }> };
  // Every protocol integration is optional: installing scales-rpc must not pull them in.
  for (const name of ['node-zookeeper-client', 'zeromq']) assert.equal(pkg.peerDependenciesMeta?.[name]?.optional, true, name);
});
