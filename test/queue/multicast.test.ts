// Multicast: one call to every subscribing service. Redis and NATS on the broker (one group per
// service, consumers inside a group share); SQS by the producer (newFanoutClient, one queue per service).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerCallContext } from '../../src/core/server-context.js';
import { IdempotencyKey, Queue, type QueueServer } from '../../src/protocols/queue/index.js';
import { newFanoutClient } from '../../src/protocols/queue/multicast.js';
import { receivedValue } from '../../src/protocols/thriftmux/values.js';
import { natsAvailable, startNats } from '../harness/nats.js';
import { redisAvailable, startRedis } from '../harness/redis.js';
import { sqsAvailable, startSqs } from '../harness/sqs.js';
import { Jobs, type JobsHandler } from './jobs.js';
import { until } from './suite.js';

const CALLS = 50;

/** A service's handler: counts each id it runs (and the idempotency keys). */
function recorder(): { seen: Map<bigint, number>; keys: Set<string>; handler: JobsHandler } {
  const seen = new Map<bigint, number>();
  const keys = new Set<string>();
  return {
    seen,
    keys,
    handler: {
      notify: (id, _p, ctx) => {
        seen.set(id, (seen.get(id) ?? 0) + 1);
        keys.add(receivedValue(ctx as ServerCallContext, IdempotencyKey) ?? '');
      },
      work: () => {},
    },
  };
}

function groupsTest(name: string, available: boolean, start: () => Promise<{ dest: string; close(): Promise<void> }>, serverOptions: { waitMs: number }): void {
  describe(`multicast over ${name}: one group per service`, { skip: !available && `${name} is not installed` }, () => {
    let broker: { dest: string; close(): Promise<void> };
    const servers: QueueServer[] = [];
    before(async () => {
      broker = await start();
    });
    after(async () => {
      for (const s of servers) await s.close(100);
      await broker.close();
    });

    it('every group gets every call; two consumers of one group share its calls', { timeout: 120_000 }, async () => {
      const billing = recorder();
      const audit = recorder();
      const o = { onError: false as const, ...serverOptions };
      // The groups exist before the first call (NATS keeps a message only for the groups there when it is published).
      servers.push(await Queue.serve(Jobs, billing.handler, broker.dest, { ...o, group: 'billing' }));
      servers.push(await Queue.serve(Jobs, billing.handler, broker.dest, { ...o, group: 'billing' }));
      servers.push(await Queue.serve(Jobs, audit.handler, broker.dest, { ...o, group: 'audit' }));
      const client = Queue.newClient(Jobs, broker.dest, { group: 'billing' });
      await Promise.all(Array.from({ length: CALLS }, (_, i) => client.notify(BigInt(i), 'x')));
      await client.$close();
      await until('both services handled every call', () => billing.seen.size === CALLS && audit.seen.size === CALLS, 60_000);
      await new Promise((r) => setTimeout(r, 300)); // a second copy inside a group would show by now
      for (const r of [billing, audit]) for (const [id, n] of r.seen) assert.equal(n, 1, `call ${id} ran ${n} times in one group`);
      const [b1, b2] = servers as [QueueServer, QueueServer];
      assert.equal(b1.counts.acked + b2.counts.acked, CALLS, 'the billing consumers shared the calls');
      // The same call in both services carries the same idempotency key.
      assert.deepEqual([...billing.keys].sort(), [...audit.keys].sort());
    });
  });
}

groupsTest(
  'redis',
  redisAvailable(),
  async () => {
    const r = await startRedis();
    return { dest: `${r.url}/events`, close: () => r.close() };
  },
  { waitMs: 200 },
);
groupsTest(
  'nats',
  natsAvailable(),
  async () => {
    const n = await startNats();
    return { dest: `${n.url}/events`, close: () => n.close() };
  },
  { waitMs: 1000 },
);

describe('multicast over sqs: producer-side fan-out to one queue per service', { skip: !sqsAvailable() && 'local-aws-sqs is not installed' }, () => {
  let sqs: Awaited<ReturnType<typeof startSqs>>;
  before(async () => {
    sqs = await startSqs();
  });
  after(() => sqs.close());

  it('each queue gets every call once, with one idempotency key per call; a refused queue fails the call, naming it', { timeout: 120_000 }, async () => {
    const billing = recorder();
    const audit = recorder();
    const o = { onError: false as const, waitMs: 1000, pollers: 4 };
    const a = await Queue.serve(Jobs, billing.handler, sqs.dest('events-billing'), o);
    const b = await Queue.serve(Jobs, audit.handler, sqs.dest('events-audit'), o);
    const client = newFanoutClient(Jobs, [sqs.dest('events-billing'), sqs.dest('events-audit')]);
    await Promise.all(Array.from({ length: CALLS }, (_, i) => client.notify(BigInt(i), 'x')));
    await until('both services handled every call', () => billing.seen.size === CALLS && audit.seen.size === CALLS, 60_000);
    assert.deepEqual([...billing.keys].sort(), [...audit.keys].sort());
    assert.equal(billing.keys.size, CALLS);
    await client.$close();
    await a.close(100);
    await b.close(100);

    const broken = newFanoutClient(Jobs, [sqs.dest('events-billing'), 'sqs+http://127.0.0.1:1/123456789012/nowhere'], { retries: false, timeout: 20_000 });
    await assert.rejects(broken.notify(1n, 'x'), /nowhere refused; 1 of 2 queues accepted the call/);
    await broken.$close();
  });
});
