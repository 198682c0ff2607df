/**
 * A queue consumer process for the kill -9 tests (test/queue/kill.test.ts): serves Jobs.notify
 * from `dest`, sleeps 0..maxSleepMs in the handler (so kills land mid-handler), and reports each
 * handled id to the parent over IPC *before* the handler returns (so before the ack): an id the
 * parent never heard of was never acked.
 *
 *   node --import tsx test/peers/queue_worker.ts <dest> <concurrency> <leaseMs> <maxSleepMs>
 */
import { Queue, QueueAttempt, receivedValue } from '../../src/protocols/queue/index.js';
import type { ServerCallContext } from '../../src/core/server-context.js';
import { Jobs } from '../queue/jobs.js';

const [dest, concurrency, leaseMs, maxSleepMs] = process.argv.slice(2);
if (dest === undefined || process.send === undefined) throw new Error('usage: queue_worker.ts <dest> <concurrency> <leaseMs> <maxSleepMs> (forked with IPC)');
const maxSleep = Number(maxSleepMs ?? 5);

// Handled ids go to the parent in batches; a handler returns once its batch is on the pipe.
let batch: string[] = [];
let redelivered = 0;
let flushed: Promise<void> | undefined;
function record(id: bigint, attempt: number): Promise<void> {
  batch.push(String(id));
  if (attempt > 1) redelivered++;
  flushed ??= new Promise<void>((resolve) => {
    setImmediate(() => {
      const ids = batch;
      const again = redelivered;
      batch = [];
      redelivered = 0;
      flushed = undefined;
      process.send!({ handled: ids, redelivered: again }, undefined, {}, () => resolve());
    });
  });
  return flushed;
}

const server = await Queue.serve(
  Jobs,
  {
    notify: async (id: bigint, _payload: string, ctx?: unknown) => {
      if (maxSleep > 0) await new Promise((r) => setTimeout(r, Math.random() * maxSleep));
      await record(id, receivedValue(ctx as ServerCallContext, QueueAttempt));
    },
    work: () => {},
  },
  dest,
  { concurrency: Number(concurrency ?? 32), leaseMs: Number(leaseMs ?? 2000), waitMs: 500, maxAttempts: 50, retryDelay: () => 100, onError: false },
);
process.send({ ready: true });
process.on('SIGTERM', () => {
  void server.close(2000).then(() => process.exit(0));
});
