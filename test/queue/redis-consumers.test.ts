// Dead Redis consumers: a consumer name per process would stay in the group forever. The live
// consumers remove the group's consumers idle for `consumerIdleMs` that hold nothing, on the
// main and the retry stream, and never one with pending entries (XGROUP DELCONSUMER would drop them).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Queue } from '../../src/protocols/queue/index.js';
import { redisAvailable, startRedis, type RedisServer } from '../harness/redis.js';
import { Jobs } from './jobs.js';
import { notifyBody, until } from './suite.js';

if (!redisAvailable()) {
  describe('redis dead consumers', () => it.skip('redis-server is not installed (scripts/setup.sh installs it)'));
} else {
  let redis: RedisServer;
  let r: Redis;
  before(async () => {
    redis = await startRedis();
    r = new Redis({ port: redis.port, protocol: 2 });
  });
  after(async () => {
    await r.quit();
    await redis.close();
  });

  /** name → pending of the group's consumers. */
  async function consumers(key: string): Promise<Map<string, number>> {
    const list = (await r.xinfo('CONSUMERS', key, 'scales')) as unknown[][];
    const out = new Map<string, number>();
    for (const c of list) out.set(String(c[c.indexOf('name') + 1]), Number(c[c.indexOf('pending') + 1]));
    return out;
  }

  describe('redis dead consumers', () => {
    it('consumers idle past consumerIdleMs with nothing pending are removed; one holding a message stays', { timeout: 60_000 }, async () => {
      const stream = 'deadc';
      const retry = `{${stream}}:retry:scales`;
      for (const key of [stream, retry]) await r.xgroup('CREATE', key, 'scales', '0', 'MKSTREAM');
      // Consumers of processes that are gone: one read a message and never acked it, two read nothing.
      await r.xadd(stream, '*', 'body', notifyBody(1n, 'held'), 'scales.method', 'notify');
      await r.xreadgroup('GROUP', 'scales', 'gone-holding', 'COUNT', 1, 'STREAMS', stream, '>');
      await r.xgroup('CREATECONSUMER', stream, 'scales', 'gone-empty');
      await r.xgroup('CREATECONSUMER', retry, 'scales', 'gone-retry');
      assert.deepEqual([...(await consumers(stream)).keys()].sort(), ['gone-empty', 'gone-holding']);
      // Two live consumers. Redis (7.0) counts a consumer idle from its last delivery, not its last
      // read, so they may remove each other once they have had nothing for consumerIdleMs: harmless,
      // the next delivery re-creates a consumer (checked below). A long lease: the held message is not
      // claimed back during the test, so its consumer keeps it pending.
      const dest = `${redis.url}/${stream}?consumerIdleMs=3000`;
      let handled = 0;
      const options = { onError: false as const, waitMs: 200, leaseMs: 60_000, concurrency: 1 };
      const h = { notify: () => new Promise<void>((resolve) => setTimeout(() => resolve(void handled++), 20)), work: () => {} };
      const live = [await Queue.serve(Jobs, h, dest, { ...options, consumer: 'live-a' }), await Queue.serve(Jobs, h, dest, { ...options, consumer: 'live-b' })];
      const client = Queue.newClient(Jobs, dest);
      try {
        await Promise.all(Array.from({ length: 20 }, (_, i) => client.notify(BigInt(i), 'x')));
        await until('20 handled', () => handled === 20);
        const t0 = Date.now();
        await until('the idle empty consumers removed', async () => !(await consumers(stream)).has('gone-empty') && !(await consumers(retry)).has('gone-retry'), 20_000);
        assert.ok(Date.now() - t0 >= 1000, 'not before they were idle for consumerIdleMs');
        const main = await consumers(stream);
        assert.equal(main.get('gone-holding'), 1, 'the consumer holding a message is kept, its entry still pending');
        assert.equal(((await r.xpending(stream, 'scales')) as unknown[])[0], 1);
        // Removed or not, the live consumers go on receiving.
        await Promise.all(Array.from({ length: 20 }, (_, i) => client.notify(BigInt(100 + i), 'x')));
        await until('20 more handled', () => handled === 40);
      } finally {
        await client.$close();
        for (const s of live) await s.close(100);
      }
    });

    it('consumerIdleMs must be a positive number', async () => {
      await assert.rejects(Queue.serve(Jobs, { notify: () => {}, work: () => {} }, `${redis.url}/x?consumerIdleMs=soon`), { code: 'SCALES_ERR_INVALID_ARGUMENT' });
    });
  });
}
