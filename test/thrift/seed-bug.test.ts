// The bug that started Scales: a client-side timeout must never leave a connection handing a
// caller someone else's response. Many concurrent callers with timeouts shorter than many of the
// server's delays, over pooled pipelined connections: every reply that arrives must be the
// caller's own. (Mutation-checked: releasing a seqid at timeout instead of when its late reply
// arrives makes this test fail with hundreds of mismatches.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Thrift, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { TimeoutError } from '../../src/core/errors.js';
import { EchoService, echoHandler } from '../fixtures/echo-service.js';

import type { ThriftClientOptions } from '../../src/protocols/thrift/index.js';

// Half the calls time out on purpose here, which failure accrual would rightly read as a sick
// node (and then fail calls fast); retries would blur the count. This test is about routing.
const plain: ThriftClientOptions = { failureAccrual: false, retries: false };

const cases = [
  // Pipelined: many calls per connection, matched by seqid.
  { protocol: 'binary', transport: 'framed', calls: 20_000, callers: 200, options: { ...plain, poolSize: 4 } },
  { protocol: 'compact', transport: 'buffered', calls: 20_000, callers: 200, options: { ...plain, poolSize: 4 } },
  // The one-call-per-connection pool under the same race: test/pool/watermark.test.ts.
] as const satisfies readonly { protocol: string; transport: string; calls: number; callers: number; options: ThriftClientOptions }[];

for (const { protocol, transport, calls: CALLS, callers: CALLERS, options } of cases) {
  describe(`timeouts never misroute replies (${protocol}/${transport}, pipelined)`, () => {
    let server: ThriftServer;
    before(async () => {
      server = await Thrift.serve(EchoService, echoHandler, { protocol, transport });
    });
    after(() => server.close());

    test(`${CALLS} calls, ${CALLERS} callers, 0-20 ms server delays, 5-15 ms timeouts`, async () => {
      const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { protocol, transport, ...options });
      let next = 0n;
      let ok = 0;
      let timedOut = 0;
      const mismatches: string[] = [];
      const other: unknown[] = [];
      async function caller(): Promise<void> {
        while (next < BigInt(CALLS)) {
          const id = next++;
          const payload = `p${id}`;
          const delay = Math.floor(Math.random() * 21);
          const timeout = 5 + Math.floor(Math.random() * 11);
          try {
            const reply = await client.echo(id, delay, payload, { timeout });
            if (reply.id !== id || reply.payload !== payload) mismatches.push(`asked ${id}, got ${reply.id}/${reply.payload}`);
            else ok++;
          } catch (err) {
            if (err instanceof TimeoutError) timedOut++;
            else other.push(err);
          }
        }
      }
      await Promise.all(Array.from({ length: CALLERS }, caller));
      await client.$close();
      assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} replies reached the wrong caller`);
      assert.deepEqual(other.slice(0, 3), [], 'only timeouts may fail');
      assert.equal(ok + timedOut, CALLS);
      // Both outcomes must be common, or the race this test is about did not happen (2 % each:
      // on a loaded 2-core box with other test files running, latency shifts the mix a lot).
      assert.ok(timedOut > CALLS / 50, `only ${timedOut} timeouts: the race was not exercised`);
      assert.ok(ok > CALLS / 50, `only ${ok} successes`);
    });
  });
}
