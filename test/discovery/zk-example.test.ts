// The README's ZooKeeper example runs: three announced servers, a zk:// client, a restart, no failed call.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('examples/zk-cluster.ts survives a server restart with no failed call', async () => {
  const env = { ...process.env };
  delete env['ZK']; // the example starts its own ZooKeeper
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/zk-cluster.ts'], { cwd: root, timeout: 90_000, env });
  assert.match(stdout, /client: first call answered by [abc]\n/);
  assert.match(stdout, /client: following zk:\/\/127\.0\.0\.1:\d+\/services\/users, 3 nodes/);
  assert.match(stdout, /b closed: the client has 2 nodes/);
  assert.match(stdout, /b is back: the client has 3 nodes/);
  const m = /calls: (\d+) answered \(.*\), (\d+) failed/.exec(stdout);
  assert.ok(m, stdout);
  assert.ok(Number(m[1]) > 100);
  assert.equal(m[2], '0');
  assert.match(stderr, /member member_\d+ left/, 'the client logged the leave');
  assert.match(stdout, /done$/m);
});
