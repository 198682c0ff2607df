// NATS JetStream counts every delivery (`num_delivered`), including deliveries that never reached
// a handler (cut off by a broker crash, lost with a pull request). The consumer's attempt is its
// own count: these tests make such deliveries with a plain nats.js consumer of the same group
// (it takes the message and NAKs it, as a lost delivery comes back) and check that only handler
// failures are attempts, and that maxDeliveries still ends a message nobody ever finishes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import type { ServerCallContext } from '../../src/core/server-context.js';
import { Queue, QueueAttempt, receivedValue, type QueueServer } from '../../src/protocols/queue/index.js';
import type { DeadLetter } from '../../src/protocols/queue/backend.js';
import { openBackend } from '../../src/protocols/queue/registry.js';
import { natsAvailable, startNats, type NatsServer } from '../harness/nats.js';
import { Jobs, type JobsHandler } from './jobs.js';
import { until } from './suite.js';

describe('nats attempts are handler failures, not deliveries', { skip: !natsAvailable() && 'nats-server / npm nats are not installed' }, () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  const closers: (() => Promise<unknown>)[] = [];
  before(async () => {
    nats = await startNats();
    const u = new URL(nats.url);
    nc = await connect({ servers: `${u.hostname}:${u.port}` });
  });
  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
    await nc.close();
    await nats.close();
  });

  /** Takes the group's messages `times` times without running them: each is a delivery JetStream counts. */
  async function loseDeliveries(queue: string, times: number, expect: number): Promise<void> {
    const js = nc.jetstream();
    for (let i = 0; i < times; i++) {
      let got = 0;
      while (got < expect) {
        for await (const m of js.fetch(queue, 'scales', { batch: expect - got, expires: 4000 })) {
          m.nak();
          got++;
        }
      }
    }
  }

  function recorder(fail: (attempt: number) => boolean): { attempts: number[]; handler: JobsHandler } {
    const attempts: number[] = [];
    return {
      attempts,
      handler: {
        notify: (_id, _p, ctx) => {
          const a = receivedValue(ctx as ServerCallContext, QueueAttempt);
          attempts.push(a);
          if (fail(a)) throw new Error(`fails at attempt ${a}`);
        },
        work: () => {},
      },
    };
  }

  async function serve(handler: JobsHandler, dest: string, o: { retryDelay?: () => number; maxDeliveries?: number } = {}): Promise<QueueServer> {
    const s = await Queue.serve(Jobs, handler, dest, { onError: false, waitMs: 1000, ...o });
    closers.push(() => s.close(100));
    return s;
  }

  it('a message delivered 7 times without reaching a handler runs as attempt 1 (maxAttempts 5)', async () => {
    const dest = `${nats.url}/lost`;
    const client = Queue.newClient(Jobs, dest); // the first backend on the queue makes the group
    closers.push(() => client.$close());
    await client.notify(1n, 'x');
    await loseDeliveries('lost', 7, 1);
    const r = recorder(() => false);
    const s = await serve(r.handler, dest);
    await until('handled and acked', () => s.counts.acked === 1);
    assert.deepEqual(r.attempts, [1]);
    assert.equal(s.counts.deadLettered, 0);
  });

  it('after a retry, lost deliveries neither reset nor raise the attempt', async () => {
    const dest = `${nats.url}/retried`;
    const client = Queue.newClient(Jobs, dest);
    closers.push(() => client.$close());
    await client.notify(1n, 'x');
    const first = recorder(() => true);
    const s1 = await serve(first.handler, dest, { retryDelay: () => 300 });
    await until('attempt 1 failed and retried', () => s1.counts.retried === 1);
    await s1.close(100); // the message waits out its delay in the broker, attempt 2 stored
    await loseDeliveries('retried', 4, 1);
    const second = recorder((a) => a < 3);
    const s2 = await serve(second.handler, dest, { retryDelay: () => 50 });
    await until('acked', () => s2.counts.acked === 1);
    assert.deepEqual(first.attempts, [1]);
    assert.deepEqual(second.attempts, [2, 3]);
  });

  it('purging the queue purges its attempt counts too', async () => {
    const dest = `${nats.url}/purged`;
    const client = Queue.newClient(Jobs, dest);
    closers.push(() => client.$close());
    await client.notify(1n, 'x');
    const s = await serve(recorder(() => true).handler, dest, { retryDelay: () => 60_000 });
    await until('attempt 1 failed and retried', () => s.counts.retried === 1);
    await s.close(100);
    const bucket = await nc.jetstream().views.kv('purged-attempts');
    const keys = async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const k of await bucket.keys()) out.push(k);
      return out;
    };
    assert.equal((await keys()).length, 1, 'the retry stored attempt 2');
    const backend = await openBackend(dest);
    closers.push(() => backend.close());
    assert.equal(await backend.purge('queue'), 1);
    assert.deepEqual(await keys(), []);
  });

  it('a message handed out more than maxDeliveries times is dead-lettered max-deliveries', async () => {
    const dest = `${nats.url}/undone`;
    const client = Queue.newClient(Jobs, dest);
    closers.push(() => client.$close());
    await client.notify(1n, 'x');
    await loseDeliveries('undone', 21, 1); // the default maxDeliveries is maxAttempts (5) × 4 = 20
    const r = recorder(() => false);
    const s = await serve(r.handler, dest);
    let dead: DeadLetter[] = [];
    await until('dead-lettered', async () => (dead = (await s.backend.peek(5, 'dead')) as DeadLetter[]).length === 1);
    assert.deepEqual(r.attempts, []);
    assert.equal(dead[0]!.reason, 'max-deliveries');
    assert.match(dead[0]!.detail, /delivered 22 times at attempt 1 \(maxDeliveries 20\)/);
  });
});
