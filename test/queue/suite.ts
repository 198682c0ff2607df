/**
 * What every queue backend must do, run against a real broker (redis.test.ts, sqs.test.ts):
 * round trips, attempts and retries, a poison message dead-lettered after N attempts with the
 * others unaffected, bad input dead-lettered with its reason, expired deadlines, lease extension,
 * graceful stop, refusing non-void methods at build time.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { withContextValue } from '../../src/core/context.js';
import type { ServerCallContext } from '../../src/core/server-context.js';
import { receivedValue } from '../../src/protocols/thriftmux/values.js';
import type { DeadLetter, QueueBackend } from '../../src/protocols/queue/backend.js';
import { openBackend } from '../../src/protocols/queue/registry.js';
import { Queue, QueueAttempt, QueueDeadline, QueueTraceId, type QueueServer, type QueueServerOptions } from '../../src/protocols/queue/index.js';
import { MessageType } from '../../src/protocols/thrift/descriptors.js';
import { BinaryProtocol } from '../../src/protocols/thrift/binary.js';
import { BufferWriter } from '../../src/core/bytes.js';
import type { ServiceDesc } from '../../src/protocols/thrift/descriptors.js';
import { until as pollUntil } from '../harness/wait.js';
import { Jobs, Mixed, type JobsHandler } from './jobs.js';

export interface RawSender {
  /** Puts a message on the queue as a foreign producer would: any body bytes, any attributes. */
  send(body: Buffer, attributes: Record<string, string>, options?: { notBase64?: string }): Promise<void>;
  close(): Promise<void>;
}

export interface BrokerEnv {
  readonly name: string;
  /** A fresh destination for one test. */
  dest(queue: string): string;
  raw(dest: string): Promise<RawSender>;
  /** Consumer options that suit this broker in tests (short waits). */
  readonly serverOptions: QueueServerOptions;
}

/** A Thrift ONEWAY/CALL message as Apache Thrift writes it. */
export function thriftBody(method: string, type: number, write: (w: BufferWriter) => void): Buffer {
  const w = new BufferWriter(256);
  BinaryProtocol.writeMessageHeader(w, method, type as 1, 0);
  write(w);
  return w.takeCopy();
}

export function notifyBody(id: bigint, payload: string): Buffer {
  return thriftBody('notify', MessageType.ONEWAY, (w) => BinaryProtocol.writeStruct(w, Jobs.methods['notify']!.args, { id, payload }));
}

export const until = (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<number> => pollUntil(what, cond, timeoutMs, 20);

async function deadLetters(b: QueueBackend, n: number, timeoutMs = 30_000): Promise<DeadLetter[]> {
  let got: DeadLetter[] = [];
  await until(
    `${n} dead letters`,
    async () => {
      got = (await b.peek(10, 'dead')) as DeadLetter[];
      return got.length >= n;
    },
    timeoutMs,
  );
  return got;
}

export function queueSuite(env: BrokerEnv): void {
  describe(`queue over ${env.name}`, () => {
    const servers: QueueServer[] = [];
    const closers: (() => Promise<void>)[] = [];
    const serve = async (handler: JobsHandler, dest: string, o: QueueServerOptions = {}): Promise<QueueServer> => {
      const s = await Queue.serve(Jobs, handler, dest, { onError: false, ...env.serverOptions, ...o });
      servers.push(s);
      return s;
    };
    after(async () => {
      for (const s of servers) await s.close(100).catch(() => {});
      for (const c of closers) await c().catch(() => {});
    });

    it('round trip: typed call → broker → handler, with args, trace id and attempt 1', async () => {
      const dest = env.dest('roundtrip');
      const seen: { id: bigint; payload: string; trace: string | undefined; attempt: number }[] = [];
      await serve(
        {
          notify: (id, payload, ctx) => {
            const c = ctx as ServerCallContext;
            seen.push({ id, payload, trace: receivedValue(c, QueueTraceId), attempt: receivedValue(c, QueueAttempt) });
          },
          work: () => {},
        },
        dest,
      );
      const client = Queue.newClient(Jobs, dest);
      closers.push(() => client.$close());
      await withContextValue(QueueTraceId, 'trace-1', () => client.notify(7n, 'héllo'));
      await Promise.all(Array.from({ length: 50 }, (_, i) => client.notify(BigInt(100 + i), `p${i}`)));
      await until('51 calls handled', () => seen.length >= 51);
      const first = seen.find((s) => s.id === 7n)!;
      assert.deepEqual(first, { id: 7n, payload: 'héllo', trace: 'trace-1', attempt: 1 });
      assert.deepEqual(new Set(seen.map((s) => s.id)).size, 51);
      assert.match(client.$stack.describe(), /serializer/);
    });

    it('16 pollers on one consumer: every message handled, no leak warning from their shared stop signal', async () => {
      const warnings: string[] = [];
      const onWarning = (w: Error): void => void (w.name === 'MaxListenersExceededWarning' && warnings.push(w.message));
      process.on('warning', onWarning);
      try {
        const dest = env.dest('pollers');
        const seen = new Set<bigint>();
        const server = await serve({ notify: (id) => void seen.add(id), work: () => {} }, dest, { pollers: 16, concurrency: 500 });
        const client = Queue.newClient(Jobs, dest);
        closers.push(() => client.$close());
        await Promise.all(Array.from({ length: 40 }, (_, i) => client.notify(BigInt(i), 'p')));
        await until('40 calls handled', () => seen.size === 40);
        await server.close(1000);
        await new Promise((r) => setTimeout(r, 10)); // a warning is emitted on the next tick
        assert.deepEqual(warnings, []);
      } finally {
        process.off('warning', onWarning);
      }
    });

    it('a non-void method is refused when the client is built, naming it; a subset of void methods is fine', async () => {
      assert.throws(() => Queue.newClient(Mixed, env.dest('mixed')), /Mixed cannot be called through a queue.*compute returns a value/);
      const c = Queue.newClient(Mixed, env.dest('mixed'), { methods: ['notify'] });
      assert.equal(typeof (c as unknown as Record<string, unknown>)['notify'], 'function');
      assert.equal((c as unknown as Record<string, unknown>)['compute'], undefined);
      await c.$close();
      await assert.rejects(Queue.serve(Mixed as ServiceDesc<unknown, object>, { notify() {}, compute: () => 1 }, env.dest('mixed'), { onError: false }), /compute returns a value/);
    });

    it('a failing handler is retried with backoff: attempts 1, 2, 3, then success and ack', async () => {
      const dest = env.dest('retry');
      const attempts: number[] = [];
      const s = await serve(
        {
          notify: (_id, _p, ctx) => {
            const a = receivedValue(ctx as ServerCallContext, QueueAttempt);
            attempts.push(a);
            if (a < 3) throw new Error(`fail ${a}`);
          },
          work: () => {},
        },
        dest,
        { retryDelay: () => 50, maxAttempts: 5 },
      );
      const client = Queue.newClient(Jobs, dest);
      closers.push(() => client.$close());
      await client.notify(1n, 'x');
      await until('3 attempts', () => attempts.length >= 3 && s.counts.acked >= 1);
      assert.deepEqual(attempts, [1, 2, 3]);
      assert.equal(s.counts.retried, 2);
      assert.equal(s.counts.deadLettered, 0);
    });

    it('a poison message goes to the dead-letter queue after maxAttempts; the others are unaffected', async () => {
      const dest = env.dest('poison');
      let poisonRuns = 0;
      const good = new Set<bigint>();
      const s = await serve(
        {
          notify: (id) => {
            if (id === 666n) {
              poisonRuns++;
              throw new Error('poison!');
            }
            good.add(id);
          },
          work: () => {},
        },
        dest,
        { retryDelay: () => 20, maxAttempts: 3 },
      );
      const client = Queue.newClient(Jobs, dest);
      closers.push(() => client.$close());
      await client.notify(666n, 'bad');
      await Promise.all(Array.from({ length: 30 }, (_, i) => client.notify(BigInt(i), 'ok')));
      const dead = await deadLetters(s.backend, 1);
      await until('30 good calls', () => good.size === 30);
      assert.equal(poisonRuns, 3);
      assert.equal(dead.length, 1);
      assert.equal(dead[0]!.reason, 'max-attempts');
      assert.match(dead[0]!.detail, /attempt 3 of 3 failed: .*poison!/);
      assert.equal(good.size, 30);
    });

    it('a declared exception dead-letters at once (reason rejected), not retried', async () => {
      const dest = env.dest('rejected');
      let runs = 0;
      const { Refused } = await import('./jobs.js');
      const s = await serve(
        {
          notify: () => {},
          work: () => {
            runs++;
            throw Refused.create!({ why: 'no' });
          },
        },
        dest,
        { retryDelay: () => 20 },
      );
      const client = Queue.newClient(Jobs, dest);
      closers.push(() => client.$close());
      await client.work(1n, 0, 'x');
      const dead = await deadLetters(s.backend, 1);
      assert.equal(dead[0]!.reason, 'rejected');
      assert.equal(runs, 1);
    });

    it('bad input is dead-lettered with its reason and the consumer keeps going', async () => {
      const dest = env.dest('bad');
      const good: bigint[] = [];
      const s = await serve({ notify: (id) => void good.push(id), work: () => {} }, dest, { maxBodyBytes: 4096 });
      const raw = await env.raw(dest);
      closers.push(() => raw.close());
      const ok = notifyBody(1n, 'ok');
      await raw.send(Buffer.from('this is not thrift at all'), { 'scales.method': 'notify' });
      await raw.send(ok.subarray(0, ok.length - 4), { 'scales.method': 'notify' });
      await raw.send(
        thriftBody('nosuch', MessageType.ONEWAY, (w) => w.writeU8(0)),
        { 'scales.method': 'nosuch' },
      );
      await raw.send(notifyBody(2n, 'x'.repeat(5000)), { 'scales.method': 'notify' });
      await raw.send(ok, {});
      await raw.send(ok, { 'scales.method': 'work' });
      await raw.send(ok, { 'scales.method': 'notify' }); // a good one from a foreign producer
      const dead = await deadLetters(s.backend, 6);
      const reasons = dead.map((d) => d.reason).sort();
      assert.deepEqual(reasons, ['bad-attributes', 'bad-attributes', 'not-thrift', 'too-large', 'truncated', 'unknown-method']);
      for (const d of dead) assert.ok(d.detail.length > 0, `a detail for ${d.reason}`);
      await until('the good message', () => good.length === 1);
      assert.deepEqual(good, [1n]);
    });

    it('a message past its deadline is dead-lettered unrun (deadline-expired)', async () => {
      const dest = env.dest('deadline');
      const client = Queue.newClient(Jobs, dest);
      closers.push(() => client.$close());
      await withContextValue(QueueDeadline, Date.now() - 1000, () => client.notify(1n, 'late'));
      await withContextValue(QueueDeadline, Date.now() + 60_000, () => client.notify(2n, 'in time'));
      const ran: bigint[] = [];
      const s = await serve({ notify: (id) => void ran.push(id), work: () => {} }, dest);
      const dead = await deadLetters(s.backend, 1);
      assert.equal(dead[0]!.reason, 'deadline-expired');
      await until('the in-time call', () => ran.length === 1);
      assert.deepEqual(ran, [2n]);
    });

    it('a handler longer than the lease keeps its message: leases are extended, no second consumer runs it', async () => {
      const dest = env.dest('lease');
      const runs: number[] = [];
      const handler: JobsHandler = {
        notify: () => {},
        work: async (_id, sleepMs) => {
          runs.push(Date.now());
          await new Promise((r) => setTimeout(r, sleepMs));
        },
      };
      const lease = env.name === 'sqs' ? 2000 : 400;
      const a = await serve(handler, dest, { leaseMs: lease });
      const b = await serve(handler, dest, { leaseMs: lease });
      const client = Queue.newClient(Jobs, dest);
      closers.push(() => client.$close());
      await client.work(1n, lease * 3, 'slow');
      await until('the slow call acked', () => a.counts.acked + b.counts.acked >= 1, 30_000);
      assert.equal(runs.length, 1);
      assert.ok(a.counts.extended + b.counts.extended >= 2, `extended ${a.counts.extended + b.counts.extended} times`);
    });

    it('graceful stop: running handlers finish and are acked; nothing is lost', async () => {
      const dest = env.dest('stop');
      const done = new Set<bigint>();
      const handler: JobsHandler = {
        notify: () => {},
        work: async (id, sleepMs) => {
          await new Promise((r) => setTimeout(r, sleepMs));
          done.add(id);
        },
      };
      const client = Queue.newClient(Jobs, dest);
      closers.push(() => client.$close());
      await Promise.all(Array.from({ length: 40 }, (_, i) => client.work(BigInt(i), 200, 'x')));
      const first = await serve(handler, dest, { concurrency: 8 });
      await until('some running', () => first.running > 0);
      await first.close(5000);
      assert.equal(first.running, 0);
      const finished = done.size;
      assert.ok(finished >= 1 && first.counts.acked === finished, `acked ${first.counts.acked}, finished ${finished}`);
      await serve(handler, dest, { concurrency: 16 });
      await until('all 40 done', () => done.size === 40, 30_000);
    });

    it('stats and peek: depth counts what waits; peek leaves it there', async () => {
      const dest = env.dest('peek');
      const client = Queue.newClient(Jobs, dest);
      closers.push(() => client.$close());
      await Promise.all([client.notify(1n, 'a'), client.notify(2n, 'b'), client.notify(3n, 'c')]);
      const b = await openBackend(dest);
      closers.push(() => b.close());
      await until('depth 3', async () => (await b.stats()).depth === 3);
      const peeked = await b.peek(1);
      assert.equal(peeked.length, 1);
      const ran: bigint[] = [];
      await serve({ notify: (id) => void ran.push(id), work: () => {} }, dest);
      await until('all 3 still delivered', () => ran.length === 3);
    });
  });
}
