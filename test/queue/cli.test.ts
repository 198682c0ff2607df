// `scales queue peek|send|purge|stats`, the CLI run as a process (src/cli/main.ts, the bin's
// entry) against real brokers: what it sends is decoded by a real consumer, what it peeks stays.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Queue } from '../../src/protocols/queue/index.js';
import { natsAvailable, startNats } from '../harness/nats.js';
import { runProcess } from '../harness/process.js';
import { redisAvailable, startRedis } from '../harness/redis.js';
import { sqsAvailable, startSqs } from '../harness/sqs.js';
import { JOBS_IDL, Jobs } from './jobs.js';
import { notifyBody, until } from './suite.js';
import { openBackend } from '../../src/protocols/queue/registry.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function scales(...argv: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const r = await runProcess({ cmd: process.execPath, args: ['--import', 'tsx', MAIN, 'queue', ...argv], cwd: ROOT, timeoutMs: 60_000 });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

interface Broker {
  name: string;
  available: boolean;
  start(): Promise<{ dest(q: string): string; close(): Promise<void> }>;
  /** Whether stats count exactly right after a purge. */
  exactDepth: boolean;
  /** Whether a purge has taken effect when it returns (SQS: "may take up to 60 seconds"). */
  purgeAtOnce: boolean;
}

const brokers: Broker[] = [
  {
    name: 'redis',
    available: redisAvailable(),
    // Redis 7.0 keeps a group's lag from before an XTRIM: stats say 1 after a purge; peek says empty.
    exactDepth: false,
    purgeAtOnce: true,
    start: async () => {
      const r = await startRedis();
      return { dest: (q) => `${r.url}/${q}`, close: () => r.close() };
    },
  },
  {
    name: 'nats',
    available: natsAvailable(),
    exactDepth: true,
    purgeAtOnce: true,
    start: async () => {
      const n = await startNats();
      return { dest: (q) => `${n.url}/${q}`, close: () => n.close() };
    },
  },
  {
    name: 'sqs',
    available: sqsAvailable(),
    exactDepth: false,
    purgeAtOnce: false,
    start: async () => {
      const s = await startSqs();
      return { dest: (q) => s.dest(q), close: () => s.close() };
    },
  },
];

for (const b of brokers) {
  describe(`scales queue over ${b.name}`, { skip: !b.available && `${b.name} is not installed` }, () => {
    let broker: { dest(q: string): string; close(): Promise<void> };
    before(async () => {
      broker = await b.start();
    });
    after(() => broker.close());

    it('send → stats → peek (twice: it stays) → purge refused without --yes → a consumer gets the call → purge --yes', { timeout: 180_000 }, async () => {
      const dest = broker.dest('cli');
      const sent = await scales('send', dest, '--idl', JOBS_IDL, 'Jobs.notify', '{"id": 9007199254740993, "payload": "héllo"}');
      assert.equal(sent.code, 0, `exit ${sent.code}: ${sent.err}${sent.out}`);
      assert.match(sent.out, /sent Jobs\.notify/);
      const sent2 = await scales('send', dest, '--idl', JOBS_IDL, 'Jobs.work', '[7, 10, "second"]');
      assert.equal(sent2.code, 0, `exit ${sent2.code}: ${sent2.err}${sent2.out}`);

      const stats = await scales('stats', dest);
      assert.equal(stats.code, 0, `exit ${stats.code}: ${stats.err}${stats.out}`);
      const s = JSON.parse(stats.out) as { depth: number; deadLettered: number };
      assert.equal(s.depth, 2, stats.out);

      for (let i = 0; i < 2; i++) {
        const p = await scales('peek', dest, '--idl', JOBS_IDL, '--service', 'Jobs');
        assert.equal(p.code, 0, `exit ${p.code}: ${p.err}${p.out}`);
        const m = JSON.parse(p.out) as { call: string; args: Record<string, unknown>; attributes: { method: string; attempt: number } };
        assert.equal(m.call, 'Jobs.notify');
        // i64 past 2^53 printed as a string of digits, exact.
        assert.deepEqual(m.args, { id: '9007199254740993', payload: 'héllo' });
        assert.equal(m.attributes.method, 'notify');
        assert.equal(m.attributes.attempt, 1);
      }
      const two = await scales('peek', dest, '--idl', JOBS_IDL, '--service', 'Jobs', '--count', '2');
      assert.equal(two.code, 0, `exit ${two.code}: ${two.err}${two.out}`);
      assert.match(two.out, /"call": "Jobs\.work"/);

      const refused = await scales('purge', dest);
      assert.equal(refused.code, 2);
      assert.match(refused.err, /without --yes/);

      const got: { id: bigint; payload: string }[] = [];
      const consumer = await Queue.serve(Jobs, { notify: (id, payload) => void got.push({ id, payload }), work: (id, _s, payload) => void got.push({ id, payload }) }, dest, {
        onError: false,
        waitMs: 1000,
      });
      await until('both calls handled', () => got.length >= 2, 60_000);
      await consumer.close(100);
      assert.deepEqual(
        got.sort((x, y) => Number(x.id - y.id)),
        [
          { id: 7n, payload: 'second' },
          { id: 9007199254740993n, payload: 'héllo' },
        ],
      );

      await scales('send', dest, '--idl', JOBS_IDL, 'Jobs.notify', '{"id": 1, "payload": "to purge"}');
      const purged = await scales('purge', dest, '--yes');
      assert.equal(purged.code, 0, `exit ${purged.code}: ${purged.err}${purged.out}`);
      assert.match(purged.out, /purged/);
      if (b.purgeAtOnce) {
        const empty = await scales('peek', dest, '--idl', JOBS_IDL, '--service', 'Jobs');
        assert.equal(empty.out, '');
        assert.match(empty.err, /the queue is empty/);
      }
      if (b.exactDepth) {
        const after = JSON.parse((await scales('stats', dest)).out) as { depth: number };
        assert.equal(after.depth, 0);
      }
    });

    it('peek --dead shows a dead letter with its reason; a wrong argument is refused before sending', { timeout: 120_000 }, async () => {
      const dest = broker.dest('cli-dead');
      const consumer = await Queue.serve(Jobs, { notify: () => {}, work: () => {} }, dest, { onError: false, waitMs: 1000 });
      const raw = await openBackend(dest);
      const body = notifyBody(5n, 'cut');
      await raw.send([
        { body: body.subarray(0, body.length - 3), attributes: { method: 'notify', attempt: 1, idempotencyKey: 'k1', contentType: 'thrift-binary', traceId: 't', deadline: undefined } },
      ]);
      await until('dead-lettered', () => consumer.counts.deadLettered >= 1, 60_000);
      await consumer.close(100);
      await raw.close();
      const p = await scales('peek', dest, '--idl', JOBS_IDL, '--dead');
      assert.equal(p.code, 0, `exit ${p.code}: ${p.err}${p.out}`);
      const d = JSON.parse(p.out) as { reason: string; error: string; attributes: { traceId: string } };
      assert.equal(d.reason, 'truncated');
      // jobs.thrift has notify in two services: without --service the CLI says so instead of guessing.
      assert.match(d.error, /in Jobs, Mixed: pass --service/);
      const p2 = await scales('peek', dest, '--idl', JOBS_IDL, '--dead', '--service', 'Jobs');
      assert.match((JSON.parse(p2.out) as { error: string }).error, /^truncated/);
      assert.equal(d.attributes.traceId, 't');

      const bad = await scales('send', dest, '--idl', JOBS_IDL, 'Jobs.notify', '{"id": "seven", "payload": "x"}');
      assert.equal(bad.code, 2);
      assert.match(bad.err, /notify\.id: expected a 64-bit integer/);
      const unknown = await scales('send', dest, '--idl', JOBS_IDL, 'Jobs.nosuch', '{}');
      assert.equal(unknown.code, 2);
      assert.match(unknown.err, /Jobs has no method 'nosuch'/);
      const stats = JSON.parse((await scales('stats', dest)).out) as { depth: number; deadLettered: number };
      assert.equal(stats.depth, 0);
      assert.equal(stats.deadLettered, 1);
    });
  });
}
