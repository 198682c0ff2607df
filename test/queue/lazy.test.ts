// The queue entry point loads no broker client: ioredis and the AWS SDK are optional peers,
// imported when a destination of their scheme is first opened.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

test('importing the queue entry point loads neither ioredis nor @aws-sdk/client-sqs', async () => {
  const script = `
    import { createRequire } from 'node:module';
    const q = await import('./src/protocols/queue/index.ts');
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify({ queue: typeof q.Queue.newClient, brokers: loaded.filter((p) => /node_modules\\/(ioredis|@aws-sdk)\\//.test(p)).length }));
    try { await q.openBackend('amqp://x/y'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root });
  const [first, second] = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(first, { queue: 'function', brokers: 0 });
  assert.equal(second!['code'], 'SCALES_ERR_INVALID_ARGUMENT');
  assert.match(String(second!['message']), /expected one of redis:\/\/, rediss:\/\/, sqs:\/\//);
});
