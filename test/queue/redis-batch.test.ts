// The Redis producer sends a batch as one Lua call (XADD_PACKED) instead of one XADD per message:
// what lands in the stream must be exactly what a plain XADD made (fields, order, values), the
// script must survive Redis forgetting it (restart, SCRIPT FLUSH), and an entry Redis refuses
// fails its own call.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { withContextValue } from '../../src/core/context.js';
import { IdempotencyKey, Queue, QueueTraceId } from '../../src/protocols/queue/index.js';
import { redisAvailable, startRedis, type RedisServer } from '../harness/redis.js';
import { Jobs } from './jobs.js';
import { notifyBody } from './suite.js';

if (!redisAvailable()) {
  describe('redis batched sends', () => it.skip('redis-server is not installed (scripts/setup.sh installs it)'));
} else {
  let redis: RedisServer;
  let r: Redis;
  let n = 0;
  before(async () => {
    redis = await startRedis();
    r = new Redis({ port: redis.port, protocol: 2 });
  });
  after(async () => {
    await r.quit();
    await redis.close();
  });

  /** Each entry's fields as text, except the body, kept as bytes. */
  async function entries(stream: string): Promise<{ body: Buffer; fields: string[] }[]> {
    const raw = (await r.xrangeBuffer(stream, '-', '+')) as [Buffer, Buffer[]][];
    return raw.map(([, f]) => ({ body: f[1]!, fields: f.map((b, i) => (i === 1 ? '<body>' : b.toString())) }));
  }

  describe('redis batched sends', () => {
    it('one batch: the entries a plain XADD makes, in call order, every attribute', async () => {
      const stream = `fields-${++n}`;
      const client = Queue.newClient(Jobs, `${redis.url}/${stream}`, { messageTtl: 60_000, lingerMs: 5 });
      const before = Date.now();
      try {
        await Promise.all([
          withContextValue(QueueTraceId, 'trace-é', () => withContextValue(IdempotencyKey, 'key-1', () => client.notify(1n, 'first'))),
          client.notify(2n, 'héllo'),
          client.notify(3n, ''),
        ]);
      } finally {
        await client.$close();
      }
      const got = await entries(stream);
      assert.equal(got.length, 3);
      assert.deepEqual(got[0]!.fields.slice(0, 10), ['body', '<body>', 'scales.method', 'notify', 'scales.attempt', '1', 'scales.idem', 'key-1', 'scales.ct', 'thrift-binary']);
      assert.deepEqual(got[0]!.fields.slice(10, 12), ['scales.trace', 'trace-é']);
      assert.equal(got[0]!.fields[12], 'scales.deadline');
      const deadline = Number(got[0]!.fields[13]);
      assert.ok(deadline >= before + 60_000 && deadline <= Date.now() + 60_000, `deadline ${deadline}`);
      assert.equal(got[0]!.fields.length, 14);
      // No trace id: no trace field; a random idempotency key each.
      assert.deepEqual(
        got[1]!.fields.map((f, i) => (i === 7 ? 'KEY' : i === 11 ? 'D' : f)),
        ['body', '<body>', 'scales.method', 'notify', 'scales.attempt', '1', 'scales.idem', 'KEY', 'scales.ct', 'thrift-binary', 'scales.deadline', 'D'],
      );
      assert.match(got[1]!.fields[7]!, /^[0-9a-f-]{36}$/);
      assert.notEqual(got[1]!.fields[7], got[2]!.fields[7]);
      assert.deepEqual(got[0]!.body, notifyBody(1n, 'first'));
      assert.deepEqual(got[1]!.body, notifyBody(2n, 'héllo'));
      assert.deepEqual(got[2]!.body, notifyBody(3n, ''));
    });

    it('a batch over the per-call byte bound is split into several calls, order kept', async () => {
      const stream = `split-${++n}`;
      // 40 bodies of 100 kB: 4 MB in one producer batch, more than one script call takes.
      const client = Queue.newClient(Jobs, `${redis.url}/${stream}`, { lingerMs: 20, maxBatch: 100 });
      const big = 'y'.repeat(100_000);
      try {
        await Promise.all(Array.from({ length: 40 }, (_, i) => client.notify(BigInt(i), big)));
      } finally {
        await client.$close();
      }
      const got = await entries(stream);
      assert.equal(got.length, 40);
      for (let i = 0; i < got.length; i++) assert.deepEqual(got[i]!.body, notifyBody(BigInt(i), big), `entry ${i}`);
    });

    it('Redis forgot the script (SCRIPT FLUSH, as after a restart): the next batch still goes through', async () => {
      const stream = `flush-${++n}`;
      const client = Queue.newClient(Jobs, `${redis.url}/${stream}`);
      try {
        await client.notify(1n, 'before');
        await r.script('FLUSH');
        await Promise.all(Array.from({ length: 50 }, (_, i) => client.notify(BigInt(100 + i), 'after')));
      } finally {
        await client.$close();
      }
      assert.equal(await r.xlen(stream), 51);
    });

    it('an entry Redis refuses fails its own call with the broker error (here: the key is not a stream)', async () => {
      const stream = `wrongtype-${++n}`;
      await r.set(stream, 'not a stream');
      const client = Queue.newClient(Jobs, `${redis.url}/${stream}`, { retries: false });
      const outcomes = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => client.notify(BigInt(i), 'x')));
      await client.$close();
      for (const o of outcomes) {
        assert.equal(o.status, 'rejected');
        const err = (o as PromiseRejectedResult).reason as { code?: string; message?: string };
        assert.equal(err.code, 'SCALES_ERR_INVALID_ARGUMENT');
        assert.match(err.message ?? '', /WRONGTYPE/);
      }
    });
  });
}
