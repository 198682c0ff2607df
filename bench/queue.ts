/**
 * Queue transport benchmark, one run, per backend: enqueue calls/s and end-to-end calls/s (a
 * producer and a consumer running at once, first send to last message handled) of Scales
 * (`Queue.newClient` / `Queue.serve`, a no-op handler) against the broker's own Node client doing
 * the same raw operations (the ceiling), and the ratio. Brokers run in their own processes
 * (redis-server; local-aws-sqs in a child), the measured clients in this one.
 *
 *   npx tsx bench/queue.ts                    BENCH_QUEUE_REDIS=100000 BENCH_QUEUE_SQS=5000 (message counts)
 *
 * Raw operations: Redis XADD of the same fields (body + 4 attributes), pipelined 500 at a time,
 * 8 pipelines in flight, and XREADGROUP COUNT 500 + XACK; SQS SendMessageBatch (10) 32 in flight,
 * and ReceiveMessage (10) + DeleteMessageBatch in 32 parallel loops. Scales keeps as many calls in
 * flight as the raw producer has messages in flight (Redis 4,000 = 8 × 500; SQS 2,000).
 *
 * NATS (natsBench, BENCH_QUEUE_NATS=50000, BENCH_QUEUE_ONLY=nats for it alone): JetStream publish
 * of the same headers and a de-duplication id (Scales sends its idempotency key as one) with 1,000
 * in flight, and pull-consume (fetch 500) + ack on a durable consumer; the stream and consumer
 * configured as Scales makes them (file storage, interest retention). Scales keeps 1,000 calls in
 * flight.
 */
import { Redis } from 'ioredis';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient, CreateQueueCommand } from '@aws-sdk/client-sqs';
import { AckPolicy, connect as natsConnect, headers as natsHeaders, nanos, RetentionPolicy, StorageType, DiscardPolicy } from 'nats';
import { Queue } from '../src/protocols/queue/index.js';
import { attributeFields } from '../src/protocols/queue/envelope.js';
import { startRedis } from '../test/harness/redis.js';
import { startSqs } from '../test/harness/sqs.js';
import { startNats } from '../test/harness/nats.js';
import { Jobs } from '../test/queue/jobs.js';
import { notifyBody } from '../test/queue/suite.js';

const REDIS_N = Number(process.env['BENCH_QUEUE_REDIS'] ?? 100_000);
/** Raw and Scales alternate this many times; the best of each is reported (the machine is shared: loads vary). */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const SQS_N = Number(process.env['BENCH_QUEUE_SQS'] ?? 5000);
const BODY = notifyBody(42n, 'x'.repeat(40)); // ~64 B, what the FACTS ceilings used
const ATTRS = attributeFields({ method: 'notify', attempt: 1, idempotencyKey: '6f1c1d0e-3a5b-4c2d-9e8f-0a1b2c3d4e5f', contentType: 'thrift-binary', traceId: undefined, deadline: undefined });

interface Row {
  backend: string;
  what: string;
  raw: number;
  scales: number;
}

const rate = (n: number, ms: number): number => Math.round((n / ms) * 1000);

async function scalesEnqueue(dest: string, n: number, window: number): Promise<number> {
  const client = Queue.newClient(Jobs, dest, { maxBuffered: window * 2 });
  await client.notify(0n, 'warm');
  const t0 = performance.now();
  for (let base = 0; base < n; base += window) {
    const k = Math.min(window, n - base);
    await Promise.all(Array.from({ length: k }, (_, i) => client.notify(BigInt(base + i), 'x'.repeat(40))));
  }
  const ms = performance.now() - t0;
  await client.$close();
  return rate(n, ms);
}

async function scalesEndToEnd(dest: string, n: number, window: number, serverOptions: object): Promise<number> {
  let handled = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const server = await Queue.serve(
    Jobs,
    {
      notify: () => {
        if (++handled === n) done();
      },
      work: () => {},
    },
    dest,
    { onError: false, ...serverOptions },
  );
  const t0 = performance.now();
  const client = Queue.newClient(Jobs, dest, { maxBuffered: window * 2 });
  for (let base = 0; base < n; base += window) {
    const k = Math.min(window, n - base);
    await Promise.all(Array.from({ length: k }, (_, i) => client.notify(BigInt(base + i), 'x'.repeat(40))));
  }
  await all;
  const ms = performance.now() - t0;
  await client.$close();
  await server.close(1000);
  return rate(n, ms);
}

async function redisBench(): Promise<Row[]> {
  const redis = await startRedis();
  const r = new Redis({ port: redis.port, protocol: 2 });
  const fields = ATTRS.flat();
  const rawEnqueue = async (stream: string, n: number): Promise<number> => {
    const t0 = performance.now();
    let sent = 0;
    const inFlight = new Set<Promise<unknown>>();
    while (sent < n) {
      const p = r.pipeline();
      const k = Math.min(500, n - sent);
      for (let i = 0; i < k; i++) p.xadd(stream, '*', 'body', BODY, ...fields);
      sent += k;
      const e = p.exec();
      inFlight.add(e);
      void e.finally(() => inFlight.delete(e));
      if (inFlight.size >= 8) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    return performance.now() - t0;
  };
  const rawConsume = async (stream: string, n: number): Promise<void> => {
    const c = new Redis({ port: redis.port, protocol: 2 });
    await c.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM').catch(() => {});
    let got = 0;
    while (got < n) {
      const res = (await c.xreadgroupBuffer('GROUP', 'g', 'c', 'COUNT', 500, 'BLOCK', 100, 'STREAMS', stream, '>')) as [Buffer, [Buffer, Buffer[]][]][] | null;
      if (res === null) continue;
      const ids = res[0]![1].map(([id]) => id);
      got += ids.length;
      await c.xack(stream, 'g', ...ids);
    }
    await c.quit();
  };
  const enq: Row = { backend: 'redis', what: 'enqueue', raw: 0, scales: 0 };
  const e2e: Row = { backend: 'redis', what: 'end-to-end', raw: 0, scales: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    enq.raw = Math.max(enq.raw, rate(REDIS_N, await rawEnqueue(`raw-enq-${round}`, REDIS_N)));
    enq.scales = Math.max(enq.scales, await scalesEnqueue(`${redis.url}/scales-enq-${round}`, REDIS_N, 4000));
    await r.flushall();
    const t0 = performance.now();
    await Promise.all([rawEnqueue(`raw-e2e-${round}`, REDIS_N), rawConsume(`raw-e2e-${round}`, REDIS_N)]);
    e2e.raw = Math.max(e2e.raw, rate(REDIS_N, performance.now() - t0));
    e2e.scales = Math.max(e2e.scales, await scalesEndToEnd(`${redis.url}/scales-e2e-${round}`, REDIS_N, 4000, { waitMs: 100, concurrency: 512 }));
    await r.flushall();
  }
  const rows = [enq, e2e];
  await r.quit();
  await redis.close();
  return rows;
}

async function sqsBench(): Promise<Row[]> {
  const sqs = await startSqs();
  const client = new SQSClient({ endpoint: sqs.endpoint, region: 'us-east-1' });
  const attrs = Object.fromEntries(ATTRS.map(([k, v]) => [k, { DataType: k === 'scales.attempt' ? 'Number' : 'String', StringValue: v }]));
  const body = BODY.toString('base64');
  const queueUrl = async (name: string): Promise<string> => (await client.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  const rawEnqueue = async (url: string, n: number): Promise<number> => {
    const t0 = performance.now();
    let next = 0;
    const loop = async (): Promise<void> => {
      while (next < n) {
        const k = Math.min(10, n - next);
        next += k;
        await client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: Array.from({ length: k }, (_, i) => ({ Id: String(i), MessageBody: body, MessageAttributes: attrs })) }));
      }
    };
    await Promise.all(Array.from({ length: 32 }, loop));
    return performance.now() - t0;
  };
  const rawConsume = async (url: string, n: number): Promise<void> => {
    let got = 0;
    const loop = async (): Promise<void> => {
      while (got < n) {
        const r = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30, MessageAttributeNames: ['All'] }));
        const ms = r.Messages ?? [];
        if (ms.length === 0) continue;
        got += ms.length;
        await client.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: ms.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
      }
    };
    await Promise.all(Array.from({ length: 32 }, loop));
  };
  const enq: Row = { backend: 'sqs (local-aws-sqs)', what: 'enqueue', raw: 0, scales: 0 };
  const e2e: Row = { backend: 'sqs (local-aws-sqs)', what: 'end-to-end', raw: 0, scales: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    // Each phase on its own queue: local-aws-sqs scans every message of a queue on each receive tick.
    enq.raw = Math.max(enq.raw, rate(SQS_N, await rawEnqueue(await queueUrl(`raw-enq-${round}`), SQS_N)));
    enq.scales = Math.max(enq.scales, await scalesEnqueue(sqs.dest(`scales-enq-${round}`), SQS_N, 2000));
    const e2eUrl = await queueUrl(`raw-e2e-${round}`);
    const t0 = performance.now();
    await Promise.all([rawEnqueue(e2eUrl, SQS_N), rawConsume(e2eUrl, SQS_N)]);
    e2e.raw = Math.max(e2e.raw, rate(SQS_N, performance.now() - t0));
    e2e.scales = Math.max(e2e.scales, await scalesEndToEnd(sqs.dest(`scales-e2e-${round}`), SQS_N, 2000, { waitMs: 1000, pollers: 32, concurrency: 320 }));
  }
  const rows = [enq, e2e];
  client.destroy();
  await sqs.close();
  return rows;
}

const NATS_N = Number(process.env['BENCH_QUEUE_NATS'] ?? 50_000);

async function natsBench(): Promise<Row[]> {
  const nats = await startNats();
  const u = new URL(nats.url);
  // The options Scales connects with that change the client's cost (no stack trace per request).
  const nc = await natsConnect({ servers: `${u.hostname}:${u.port}`, noAsyncTraces: true });
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  const WINDOW = 1000;
  // The stream and group as the Scales backend makes them (backends/nats.ts).
  const makeQueue = async (name: string): Promise<void> => {
    await jsm.streams.add({ name, subjects: [name], storage: StorageType.File, retention: RetentionPolicy.Interest, discard: DiscardPolicy.New, duplicate_window: nanos(120_000) });
    await jsm.consumers.add(name, { durable_name: 'scales', ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_ack_pending: 20_000 });
  };
  let seq = 0;
  const rawEnqueue = async (queue: string, n: number): Promise<number> => {
    const t0 = performance.now();
    const inFlight = new Set<Promise<unknown>>();
    for (let i = 0; i < n; i++) {
      const h = natsHeaders();
      for (const [k, v] of ATTRS) h.append(k, v);
      const p = js.publish(queue, BODY, { headers: h, msgID: `raw-${++seq}` });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= WINDOW) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    return performance.now() - t0;
  };
  const rawConsume = async (queue: string, n: number): Promise<void> => {
    let got = 0;
    while (got < n) {
      for await (const m of js.fetch(queue, 'scales', { batch: 500, expires: 1000 })) {
        m.ack();
        got++;
      }
    }
    await nc.flush();
  };
  const enq: Row = { backend: 'nats (JetStream)', what: 'enqueue', raw: 0, scales: 0 };
  const e2e: Row = { backend: 'nats (JetStream)', what: 'end-to-end', raw: 0, scales: 0 };
  // This process's CPU per call (the clients; the broker is another process): steadier than calls/s on a shared machine.
  const cpu: Record<string, number[]> = {};
  const measured = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    const c0 = process.cpuUsage();
    const out = await run();
    const c = process.cpuUsage(c0);
    (cpu[what] ??= []).push((c.user + c.system) / NATS_N);
    return out;
  };
  for (let round = 0; round < ROUNDS; round++) {
    await makeQueue(`raw-enq-${round}`);
    enq.raw = Math.max(enq.raw, rate(NATS_N, await measured('raw enqueue', () => rawEnqueue(`raw-enq-${round}`, NATS_N))));
    enq.scales = Math.max(enq.scales, await measured('Scales enqueue', () => scalesEnqueue(`${nats.url}/scales-enq-${round}`, NATS_N, WINDOW)));
    await makeQueue(`raw-e2e-${round}`);
    const t0 = performance.now();
    await measured('raw end-to-end', () => Promise.all([rawEnqueue(`raw-e2e-${round}`, NATS_N), rawConsume(`raw-e2e-${round}`, NATS_N)]));
    e2e.raw = Math.max(e2e.raw, rate(NATS_N, performance.now() - t0));
    e2e.scales = Math.max(e2e.scales, await measured('Scales end-to-end', () => scalesEndToEnd(`${nats.url}/scales-e2e-${round}`, NATS_N, WINDOW, { waitMs: 1000, concurrency: 512 })));
    // Keep the store small between rounds.
    for (const s of [`raw-enq-${round}`, `scales-enq-${round}`, `raw-e2e-${round}`, `scales-e2e-${round}`]) await jsm.streams.delete(s).catch(() => {});
  }
  await nc.close();
  await nats.close();
  for (const [what, us] of Object.entries(cpu)) console.log(`nats ${what}: CPU ${us.map((u) => u.toFixed(1)).join(' / ')} µs per call (this process, per round)`);
  return [enq, e2e];
}

const only = process.env['BENCH_QUEUE_ONLY'];
const want = (backend: string): boolean => only === undefined || only === backend;
const rows = [...(want('redis') ? await redisBench() : []), ...(want('sqs') ? await sqsBench() : []), ...(want('nats') ? await natsBench() : [])];
console.log('\n| backend | what | broker client (raw) calls/s | Scales calls/s | ratio |');
console.log('|---|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.backend} | ${r.what} | ${r.raw.toLocaleString('en')} | ${r.scales.toLocaleString('en')} | ${Math.round((r.scales / r.raw) * 100)} % |`);
process.exit(0);
