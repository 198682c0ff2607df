// The README's examples must run, and the checked-in generated code must match `scales gen`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateTypeScript } from '../../src/protocols/thrift/index.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('examples/gen is what scales gen produces today', async () => {
  const files = await generateTypeScript(path.join(root, 'examples/idl/users.thrift'), { runtime: '../../src/protocols/thrift/index.js' });
  for (const [name, source] of files) {
    const committed = await readFile(path.join(root, 'examples/gen', name), 'utf8');
    assert.equal(committed, source, `examples/gen/${name} is stale: run npx tsx src/cli/main.ts gen examples/idl/users.thrift -o examples/gen --runtime ../../src/protocols/thrift/index.js`);
  }
});

test('the main example runs and prints its results', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/main.ts'], { cwd: root, timeout: 60_000 });
  assert.match(stdout, /getUser\(1\) -> Ada/);
  assert.match(stdout, /getUser\(404\) -> UserNotFound: no user 404/);
  assert.match(stdout, /SCALES_ERR_TIMEOUT/);
  assert.match(stdout, /1\. stats .*\n.*2\. timeout .*\n.*3\. retries .*\n.*4\. serializer .*\n.*5\. loadbalancer .*p2c/);
  assert.match(stdout, /[\d,]+ calls\/s\s+p50 [\d.]+ ms/);
  assert.match(stdout, /done$/m);
});

test('the HTTP example balances over two servers and prints its stats', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/http.ts'], { cwd: root, timeout: 60_000 });
  assert.match(stdout, /4\. loadbalancer +p2c-ewma/);
  assert.match(stdout, /GET \/users\/1 -> 200 \{"server":"[ab]"/);
  assert.match(stdout, /body seen by the server: \{"name":"Ada"\}/);
  const served = JSON.parse(/served by: (\{.*\})/.exec(stdout)![1]!) as Record<string, number>;
  assert.equal((served['a'] ?? 0) + (served['b'] ?? 0), 200);
  assert.match(stdout, /stats: 202 requests, 202 successes/);
  assert.match(stdout, /done$/m);
});
