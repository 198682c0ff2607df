// The queue suite over a real redis-server (streams + consumer groups), plus what is Redis's own:
// the stream is trimmed once every group has acked, and raw XADDs from a foreign producer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Queue } from '../../src/protocols/queue/index.js';
import { redisAvailable, startRedis, type RedisServer } from '../harness/redis.js';
import { Jobs } from './jobs.js';
import { queueSuite, until, type RawSender } from './suite.js';
import { sendThroughRestart } from './restart-load.js';

if (!redisAvailable()) {
  describe('queue over redis', () => it.skip('redis-server is not installed (scripts/setup.sh installs it)'));
} else {
  let redis: RedisServer;
  let n = 0;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.close());

  queueSuite({
    name: 'redis',
    dest: (q) => `${redis.url}/${q}-${++n}`,
    raw: async (dest): Promise<RawSender> => {
      const u = new URL(dest);
      const r = new Redis({ host: u.hostname, port: Number(u.port), protocol: 2 });
      const stream = u.pathname.slice(1);
      return {
        send: async (body, attributes) => {
          await r.xadd(stream, '*', 'body', body, ...Object.entries(attributes).flat());
        },
        close: async () => void (await r.quit()),
      };
    },
    serverOptions: { waitMs: 200 },
  });

  describe('redis specifics', () => {
    it('acked entries are trimmed from the stream once every group has them', async () => {
      const dest = `${redis.url}/trim-${++n}`;
      const client = Queue.newClient(Jobs, dest);
      let handled = 0;
      const s = await Queue.serve(Jobs, { notify: () => void handled++, work: () => {} }, dest, { onError: false, waitMs: 200 });
      await Promise.all(Array.from({ length: 500 }, (_, i) => client.notify(BigInt(i), 'x')));
      await until('500 handled and acked', () => s.counts.acked === 500);
      const r = new Redis({ port: redis.port, protocol: 2 });
      await until('the stream trimmed', async () => (await r.xlen(`trim-${n}`)) <= 1, 10_000);
      await r.quit();
      await s.close(100);
      await client.$close();
      assert.equal(handled, 500);
    });

    it('the broker down: calls fail fast with a clear connect error, not an unbounded queue', async () => {
      const other = await startRedis();
      const dest = `${other.url}/down`;
      const client = Queue.newClient(Jobs, dest, { retries: false, failureAccrual: false });
      await client.notify(1n, 'up');
      await other.stop();
      const t0 = Date.now();
      const err = (await client.notify(2n, 'down').then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: string; message?: string } | undefined;
      assert.ok(err !== undefined, 'the call failed');
      assert.ok(['SCALES_ERR_CONNECT', 'SCALES_ERR_CONNECTION_CLOSED'].includes(err.code ?? ''), `${err.code}: ${err.message}`);
      assert.ok(Date.now() - t0 < 5000);
      await client.$close();
      await other.close();
    });

    it('Redis killed and restarted under load (AOF, fsync always): clear errors, nothing acknowledged is lost', { timeout: 120_000 }, async () => {
      const durable = await startRedis({ durable: true });
      const dest = `${durable.url}/restart`;
      const handled = new Set<bigint>();
      const consumer = await Queue.serve(Jobs, { notify: (id) => void handled.add(id), work: () => {} }, dest, { onError: false, waitMs: 200 });
      const client = Queue.newClient(Jobs, dest, { retries: false });
      const { sent, accepted, codes } = await sendThroughRestart(
        (id) => client.notify(id, 'x'),
        () => durable.restart({ kill: true, downMs: 300 }),
      );
      console.log(`restart under load: sent ${sent}, accepted ${accepted.length}, failed ${JSON.stringify(Object.fromEntries(codes))}`);
      assert.ok(codes.size > 0, 'some calls failed while Redis was down');
      for (const code of codes.keys()) assert.ok(['SCALES_ERR_CONNECT', 'SCALES_ERR_CONNECTION_CLOSED', 'SCALES_ERR_NODE_UNAVAILABLE', 'SCALES_ERR_OVERLOADED'].includes(code), code);
      await until('every accepted call handled', () => accepted.every((id) => handled.has(id)), 60_000);
      await consumer.close(100);
      await client.$close();
      await durable.close();
    });

    it('the producer buffer is bounded: past maxBuffered a call fails at once with OverloadedError', async () => {
      const dest = `${redis.url}/bounded-${++n}`;
      const client = Queue.newClient(Jobs, dest, { maxBuffered: 100, maxInFlightBatches: 1, maxBatch: 10, retries: false });
      await client.notify(0n, 'warm'); // connected
      const outcomes = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => client.notify(BigInt(i), 'x')));
      const refused = outcomes.filter((o) => o.status === 'rejected');
      assert.ok(refused.length > 0, 'some calls refused');
      for (const r of refused) assert.equal((r as PromiseRejectedResult).reason.code, 'SCALES_ERR_OVERLOADED');
      assert.ok(outcomes.length - refused.length >= 100);
      await client.$close();
    });
  });
}
