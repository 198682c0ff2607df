// Python (Apache Thrift's library + redis-py / boto3 / the NATS text protocol) and Scales
// exchanging calls through the same queues, both ways, per backend (test/peers/queue_peer.py).
// The Python side encodes and decodes the Thrift bodies itself: wrong bytes fail either direction.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { withContextValue } from '../../src/core/context.js';
import type { ServerCallContext } from '../../src/core/server-context.js';
import { Queue, QueueTraceId } from '../../src/protocols/queue/index.js';
import { openBackend } from '../../src/protocols/queue/registry.js';
import { receivedValue } from '../../src/protocols/thriftmux/values.js';
import { natsAvailable, startNats } from '../harness/nats.js';
import { runProcess } from '../harness/process.js';
import { redisAvailable, startRedis } from '../harness/redis.js';
import { sqsAvailable, startSqs } from '../harness/sqs.js';
import { generateThrift } from '../harness/thrift-gen.js';
import { JOBS_IDL, Jobs } from './jobs.js';
import { until } from './suite.js';

const PEER = fileURLToPath(new URL('../peers/queue_peer.py', import.meta.url));
const PYTHON = '/usr/bin/python3';

interface Env {
  dest: string;
  /** The peer's flags naming the same queue. */
  flags: string[];
}

interface Broker {
  name: string;
  available: () => boolean;
  start(): Promise<{ env(q: string): Env; close(): Promise<void> }>;
}

const brokers: Broker[] = [
  {
    name: 'redis',
    available: () => redisAvailable() && pyHas('redis'),
    start: async () => {
      const r = await startRedis();
      return { env: (q) => ({ dest: `${r.url}/${q}`, flags: ['--port', String(r.port), '--queue', q] }), close: () => r.close() };
    },
  },
  {
    name: 'nats',
    available: natsAvailable,
    start: async () => {
      const n = await startNats();
      return { env: (q) => ({ dest: `${n.url}/${q}`, flags: ['--port', String(n.port), '--queue', q] }), close: () => n.close() };
    },
  },
  {
    name: 'sqs',
    available: () => sqsAvailable() && pyHas('boto3'),
    start: async () => {
      const s = await startSqs();
      return {
        env: (q) => ({ dest: s.dest(q), flags: ['--endpoint', s.endpoint, '--queue-url', s.dest(q).replace(/^sqs\+/, '')] }),
        close: () => s.close(),
      };
    },
  },
];

function pyHas(module: string): boolean {
  if (!existsSync(PYTHON)) return false;
  const r = spawnSync(PYTHON, ['-c', `import ${module}, thrift`]);
  return r.status === 0;
}

async function peer(gen: string, backend: string, mode: 'produce' | 'consume', env: Env, extra: string[]): Promise<Record<string, unknown>[]> {
  const r = await runProcess({ cmd: PYTHON, args: [PEER, '--gen-dir', gen, '--backend', backend, '--mode', mode, ...env.flags, ...extra], timeoutMs: 120_000 });
  const lines = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(r.code, 0, `queue_peer.py ${mode} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return lines;
}

for (const b of brokers) {
  describe(`python interop over ${b.name}`, { skip: !b.available() && `${b.name} or its Python client is not installed` }, () => {
    let broker: { env(q: string): Env; close(): Promise<void> };
    let gen: string;
    before(async () => {
      gen = await generateThrift('py', JOBS_IDL);
      broker = await b.start();
    });
    after(() => broker.close());

    it('ours → Python: a typed client sends, the Python consumer decodes every call', { timeout: 180_000 }, async () => {
      const env = broker.env('to-python');
      const client = Queue.newClient(Jobs, env.dest);
      await withContextValue(QueueTraceId, 'from-ts', () => Promise.all(Array.from({ length: 20 }, (_, i) => client.notify(BigInt(i + 1), `ts-${i + 1}-é`))));
      await client.notify(2n ** 62n, 'big');
      await client.$close();
      const calls = await peer(gen, b.name, 'consume', env, ['--count', '21']);
      const byId = new Map(calls.map((c) => [String(c['id']), c]));
      assert.equal(byId.size, 21);
      for (let i = 1; i <= 20; i++) assert.deepEqual(byId.get(String(i)), { method: 'notify', type: 4, id: String(i), payload: `ts-${i}-é`, trace: 'from-ts' });
      assert.equal(byId.get(String(2n ** 62n))?.['payload'], 'big');
    });

    it('Python → ours: the Python producer sends, our consumer runs every call; nothing dead-lettered', { timeout: 180_000 }, async () => {
      const env = broker.env('from-python');
      const backend = await openBackend(env.dest); // the queue (and on NATS its first group) exists before Python sends
      await backend.close();
      const [sent] = await peer(gen, b.name, 'produce', env, ['--count', '20', '--first-id', '100', '--trace', 'from-py']);
      assert.deepEqual(sent, { sent: 20 });
      const got = new Map<bigint, { payload: string; trace: string | undefined }>();
      const consumer = await Queue.serve(
        Jobs,
        { notify: (id, payload, ctx) => void got.set(id, { payload, trace: receivedValue(ctx as ServerCallContext, QueueTraceId) }), work: () => {} },
        env.dest,
        { onError: false, waitMs: 1000 },
      );
      await until('20 calls from Python', () => got.size >= 20, 60_000);
      await consumer.close(100);
      for (let i = 100; i < 120; i++) assert.deepEqual(got.get(BigInt(i)), { payload: `py-${i}`, trace: 'from-py' });
      assert.equal(consumer.counts.deadLettered, 0);
    });
  });
}
