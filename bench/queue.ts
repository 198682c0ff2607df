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
 * Scales runs from the compiled dist/ (what ships; `npm run build` first) or BENCH_DIST=<dir> (another
 * build, for an A/B run), as the other benchmarks (bench/peers/runtime.ts). Beside calls/s, each
 * row gives this process's CPU per call (µs, user + system: the producer, and the consumer in the
 * end-to-end rows), steadier than calls/s on a shared machine. BENCH_QUEUE_SQS=0 (or
 * BENCH_QUEUE_ONLY=redis) skips SQS, BENCH_QUEUE_REDIS=0 skips Redis, BENCH_QUEUE_NATS=0 NATS.
 *
 * NATS (natsBench, BENCH_QUEUE_NATS=50000, BENCH_QUEUE_ONLY=nats for it alone): JetStream publish
 * of the same headers and a de-duplication id (Scales sends its idempotency key as one) with 1,000
 * in flight, and pull-consume (fetch 500) + ack on a durable consumer; the stream and consumer
 * configured as Scales makes them (file storage, interest retention). Scales keeps 1,000 calls in
 * flight.
 */
import os from 'node:os';
import { Redis } from 'ioredis';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient, CreateQueueCommand } from '@aws-sdk/client-sqs';
import { AckPolicy, connect as natsConnect, headers as natsHeaders, nanos, RetentionPolicy, StorageType, DiscardPolicy } from 'nats';
import type { ServiceDesc } from '../src/protocols/thrift/descriptors.js';
import { startRedis } from '../test/harness/redis.js';
import { startSqs } from '../test/harness/sqs.js';
import { startNats } from '../test/harness/nats.js';
import { JOBS_IDL, type JobsClient, type JobsHandler } from '../test/queue/jobs.js';
import { notifyBody } from '../test/queue/suite.js';
import { loadScales, scalesBuild } from './peers/runtime.js';

type QueueIndex = typeof import('../src/protocols/queue/index.js');
type ScriptsModule = Partial<typeof import('../src/protocols/queue/backends/redis-scripts.js')>;

/** One stream entry as XADD_PACKED takes it: the field count, then each field's 4-byte length and bytes. */
function packEntry(fields: Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from([fields.length])];
  for (const f of fields) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(f.length);
    parts.push(len, f);
  }
  return Buffer.concat(parts);
}
type IdlIndex = typeof import('../src/protocols/thrift/idl/index.js');
const { Queue, attributeFields } = await loadScales<QueueIndex>('protocols/queue/index.js');
// The service descriptor from the same build as Queue (compiled codecs are cached per build).
const Jobs = (await loadScales<IdlIndex>('protocols/thrift/idl/index.js')).loadIdlSync(JOBS_IDL).services['Jobs'] as ServiceDesc<JobsClient, JobsHandler>;

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
  /** This process's CPU per call, µs, of the best round (raw, Scales). */
  rawCpu: number;
  scalesCpu: number;
}

const rate = (n: number, ms: number): number => Math.round((n / ms) * 1000);

interface Run {
  rate: number;
  /** µs of this process's CPU per message. */
  cpu: number;
}

/** Runs `f`, returning calls/s of `n` messages and this process's CPU per message. */
async function measured(n: number, f: () => Promise<unknown>): Promise<Run> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { rate: rate(n, ms), cpu: (c.user + c.system) / n };
}

/** Keeps the best rate of the rounds (with that round's CPU per call): the machine is shared. */
function keepBest(row: Row, side: 'raw' | 'scales', r: Run): void {
  if (r.rate <= row[side]) return;
  row[side] = r.rate;
  if (side === 'raw') row.rawCpu = r.cpu;
  else row.scalesCpu = r.cpu;
}

async function scalesEnqueue(dest: string, n: number, window: number): Promise<Run> {
  const client = Queue.newClient(Jobs, dest, { maxBuffered: window * 2 });
  await client.notify(0n, 'warm');
  const run = await measured(n, async () => {
    for (let base = 0; base < n; base += window) {
      const k = Math.min(window, n - base);
      await Promise.all(Array.from({ length: k }, (_, i) => client.notify(BigInt(base + i), 'x'.repeat(40))));
    }
  });
  await client.$close();
  return run;
}

async function scalesEndToEnd(dest: string, n: number, window: number, serverOptions: object): Promise<Run> {
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
  const client = Queue.newClient(Jobs, dest, { maxBuffered: window * 2 });
  const run = await measured(n, async () => {
    for (let base = 0; base < n; base += window) {
      const k = Math.min(window, n - base);
      await Promise.all(Array.from({ length: k }, (_, i) => client.notify(BigInt(base + i), 'x'.repeat(40))));
    }
    await all;
  });
  await client.$close();
  await server.close(1000);
  return run;
}

async function redisBench(): Promise<Row[]> {
  const redis = await startRedis();
  const r = new Redis({ port: redis.port, protocol: 2 });
  const fields = ATTRS.flat();
  const rawEnqueue = async (stream: string, n: number): Promise<void> => {
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
  // The same script Scales sends a batch with (one call per 500 entries, 8 in flight, each entry
  // packed once up front): the ceiling for Scales' way of sending. Builds before it lack the script.
  const script = (await loadScales<ScriptsModule>('protocols/queue/backends/redis-scripts.js')).XADD_PACKED;
  const entry = packEntry([Buffer.from('body'), BODY, ...fields.map((f) => Buffer.from(f))]);
  const rawScriptEnqueue = async (stream: string, n: number): Promise<void> => {
    let sent = 0;
    const inFlight = new Set<Promise<unknown>>();
    while (sent < n) {
      const k = Math.min(500, n - sent);
      const e = r.evalsha(script!.sha, 1, stream, Buffer.concat(Array.from({ length: k }, () => entry)));
      sent += k;
      inFlight.add(e);
      void e.finally(() => inFlight.delete(e));
      if (inFlight.size >= 8) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if ((await r.xlen(stream)) !== n) throw new Error(`the script added ${await r.xlen(stream)} entries, not ${n}`);
  };
  if (script !== undefined) await r.script('LOAD', script.source);
  const enq: Row = { backend: 'redis', what: 'enqueue', raw: 0, scales: 0, rawCpu: 0, scalesCpu: 0 };
  const enqScript: Row = { backend: 'redis', what: 'enqueue, raw = the same Lua script as Scales', raw: 0, scales: 0, rawCpu: 0, scalesCpu: 0 };
  const e2e: Row = { backend: 'redis', what: 'end-to-end', raw: 0, scales: 0, rawCpu: 0, scalesCpu: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    keepBest(enq, 'raw', await measured(REDIS_N, () => rawEnqueue(`raw-enq-${round}`, REDIS_N)));
    if (script !== undefined) keepBest(enqScript, 'raw', await measured(REDIS_N, () => rawScriptEnqueue(`raw-enq-script-${round}`, REDIS_N)));
    keepBest(enq, 'scales', await scalesEnqueue(`${redis.url}/scales-enq-${round}`, REDIS_N, 4000));
    await r.flushall();
    keepBest(e2e, 'raw', await measured(REDIS_N, () => Promise.all([rawEnqueue(`raw-e2e-${round}`, REDIS_N), rawConsume(`raw-e2e-${round}`, REDIS_N)])));
    keepBest(e2e, 'scales', await scalesEndToEnd(`${redis.url}/scales-e2e-${round}`, REDIS_N, 4000, { waitMs: 100, concurrency: 512 }));
    await r.flushall();
  }
  enqScript.scales = enq.scales;
  enqScript.scalesCpu = enq.scalesCpu;
  const rows = script === undefined ? [enq, e2e] : [enq, enqScript, e2e];
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
  const rawEnqueue = async (url: string, n: number): Promise<void> => {
    let next = 0;
    const loop = async (): Promise<void> => {
      while (next < n) {
        const k = Math.min(10, n - next);
        next += k;
        await client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: Array.from({ length: k }, (_, i) => ({ Id: String(i), MessageBody: body, MessageAttributes: attrs })) }));
      }
    };
    await Promise.all(Array.from({ length: 32 }, loop));
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
  const enq: Row = { backend: 'sqs (local-aws-sqs)', what: 'enqueue', raw: 0, scales: 0, rawCpu: 0, scalesCpu: 0 };
  const e2e: Row = { backend: 'sqs (local-aws-sqs)', what: 'end-to-end', raw: 0, scales: 0, rawCpu: 0, scalesCpu: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    // Each phase on its own queue: local-aws-sqs scans every message of a queue on each receive tick.
    const enqUrl = await queueUrl(`raw-enq-${round}`);
    keepBest(enq, 'raw', await measured(SQS_N, () => rawEnqueue(enqUrl, SQS_N)));
    keepBest(enq, 'scales', await scalesEnqueue(sqs.dest(`scales-enq-${round}`), SQS_N, 2000));
    const e2eUrl = await queueUrl(`raw-e2e-${round}`);
    keepBest(e2e, 'raw', await measured(SQS_N, () => Promise.all([rawEnqueue(e2eUrl, SQS_N), rawConsume(e2eUrl, SQS_N)])));
    keepBest(e2e, 'scales', await scalesEndToEnd(sqs.dest(`scales-e2e-${round}`), SQS_N, 2000, { waitMs: 1000, pollers: 32, concurrency: 320 }));
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
  const rawEnqueue = async (queue: string, n: number): Promise<void> => {
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
  const enq: Row = { backend: 'nats (JetStream)', what: 'enqueue', raw: 0, scales: 0, rawCpu: 0, scalesCpu: 0 };
  const e2e: Row = { backend: 'nats (JetStream)', what: 'end-to-end', raw: 0, scales: 0, rawCpu: 0, scalesCpu: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    await makeQueue(`raw-enq-${round}`);
    keepBest(enq, 'raw', await measured(NATS_N, () => rawEnqueue(`raw-enq-${round}`, NATS_N)));
    keepBest(enq, 'scales', await scalesEnqueue(`${nats.url}/scales-enq-${round}`, NATS_N, WINDOW));
    await makeQueue(`raw-e2e-${round}`);
    keepBest(e2e, 'raw', await measured(NATS_N, () => Promise.all([rawEnqueue(`raw-e2e-${round}`, NATS_N), rawConsume(`raw-e2e-${round}`, NATS_N)])));
    keepBest(e2e, 'scales', await scalesEndToEnd(`${nats.url}/scales-e2e-${round}`, NATS_N, WINDOW, { waitMs: 1000, concurrency: 512 }));
    // Keep the store small between rounds.
    for (const s of [`raw-enq-${round}`, `scales-enq-${round}`, `raw-e2e-${round}`, `scales-e2e-${round}`]) await jsm.streams.delete(s).catch(() => {});
  }
  await nc.close();
  await nats.close();
  return [enq, e2e];
}

const only = process.env['BENCH_QUEUE_ONLY'];
const want = (backend: string, n: number): boolean => (only === undefined || only === backend) && n > 0;
const rows = [...(want('redis', REDIS_N) ? await redisBench() : []), ...(want('sqs', SQS_N) ? await sqsBench() : []), ...(want('nats', NATS_N) ? await natsBench() : [])];
const cpu = (us: number): string => us.toFixed(2);
const load = os
  .loadavg()
  .map((l) => l.toFixed(1))
  .join(' ');
console.log(`\nScales from ${scalesBuild()}; CPU = this process's user + system µs per call (the brokers run in their own processes); load avg ${load}.`);
console.log('\n| backend | what | broker client (raw) calls/s | Scales calls/s | ratio | raw CPU µs/call | Scales CPU µs/call |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.backend} | ${r.what} | ${r.raw.toLocaleString('en')} | ${r.scales.toLocaleString('en')} | ${Math.round((r.scales / r.raw) * 100)} % | ${cpu(r.rawCpu)} | ${cpu(r.scalesCpu)} |`);
}
process.exit(0);
