// kill -9 of consumer workers mid-handler, under load: every call handled at least once, none
// lost, duplicates counted and bounded by the kills. Redis: 100,000 calls; SQS (local-aws-sqs
// serves ~6k receives/s at best here): 5,000.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { redisAvailable, startRedis, type RedisServer } from '../harness/redis.js';
import { startSqs, sqsAvailable, type SqsServer } from '../harness/sqs.js';
import { killLoad, type KillLoadResult } from './kill-load.js';

function check(r: KillLoadResult, calls: number, concurrency: number, ackBatch: number): void {
  console.log(`kill -9 load: ${JSON.stringify({ ...r, sendMs: Math.round(r.sendMs), totalMs: Math.round(r.totalMs) })}`);
  assert.equal(r.producerErrors, 0, 'the broker accepted every call');
  assert.equal(r.missing, 0, `${r.missing} of ${calls} calls never handled`);
  // Kills are paced by progress and land mid-run; under heavy load a few can still miss their turn.
  assert.ok(r.kills >= Math.ceil(r.plannedKills / 2), `only ${r.kills} of ${r.plannedKills} kills landed`);
  assert.ok(r.redelivered > 0, 'no kill interrupted a handler: the test proved nothing');
  // A kill loses at most the handlers running (concurrency) and the acks not yet sent (one batch).
  const bound = r.kills * (concurrency + ackBatch);
  assert.ok(r.duplicates <= bound, `${r.duplicates} duplicates > ${bound} (kills ${r.kills} × (concurrency ${concurrency} + ack batch ${ackBatch}))`);
}

describe('kill -9 under load', () => {
  describe('redis', { skip: !redisAvailable() && 'redis-server is not installed' }, () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedis();
    });
    after(() => redis.close());

    it('100,000 calls, 3 workers killed at random mid-handler: none lost, duplicates bounded', { timeout: 300_000 }, async () => {
      const calls = 100_000;
      const r = await killLoad({ dest: `${redis.url}/kill`, calls, workers: 3, concurrency: 32, leaseMs: 2000, kills: 12, maxSleepMs: 3, timeoutMs: 240_000 });
      check(r, calls, 32, 1000);
    });
  });

  describe('sqs', { skip: !sqsAvailable() && 'local-aws-sqs is not installed' }, () => {
    let sqs: SqsServer;
    before(async () => {
      sqs = await startSqs();
    });
    after(() => sqs.close());

    it('5,000 calls, 3 workers killed at random mid-handler: none lost, duplicates bounded', { timeout: 300_000 }, async () => {
      const calls = 5000;
      const r = await killLoad({ dest: sqs.dest('kill'), calls, workers: 3, concurrency: 32, leaseMs: 2000, kills: 6, maxSleepMs: 3, timeoutMs: 240_000 });
      check(r, calls, 32, 10);
    });
  });
});
