// One ZeroRPC server session answers every peer of its ROUTER: an answer its send queue cannot
// take (a peer flooding faster than the queue drains) must be dropped, as a ROUTER drops at its
// high-water mark, never close the server for all the other peers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as zmq from 'zeromq';
import { OverloadedError } from '../../src/core/errors.js';
import { encodeEvent, ZeroRpc } from '../../src/protocols/zerorpc/index.js';
import { sleep } from '../harness/wait.js';

const EMPTY = Buffer.alloc(0);

for (const transport of ['zeromq', 'zmtp'] as const) {
  describe(`ZeroRPC server (${transport}): a full send queue`, () => {
    it('drops the answers it cannot queue and keeps serving the other peers', async () => {
      const reported: unknown[] = [];
      const server = await ZeroRpc.serve({ add: (a: number, b: number) => a + b }, { bind: 'tcp://127.0.0.1:*', transport, maxQueued: 2, onError: (err) => reported.push(err) });
      const client = ZeroRpc.newClient(server.endpoints[0]!, { transport, timeout: 5000 });
      const flood = new zmq.Dealer({ linger: 0, sendHighWaterMark: 100_000, receiveHighWaterMark: 10 });
      flood.connect(server.endpoints[0]!);
      try {
        assert.equal(await client.add(1, 2), 3);
        // Known and unknown methods: both kinds of answer meet the full queue.
        for (let i = 0; i < 4000; i++) {
          const name = i % 2 === 0 ? 'add' : 'nope';
          await flood.send([EMPTY, Buffer.from(encodeEvent({ message_id: `f${i}`, v: 3 }, name, [i, 1]))]);
        }
        await sleep(300);
        // The queue did fill (else this proves nothing): the answers it refused were counted and reported.
        assert.ok(server.counts.dropped > 100, `only ${server.counts.dropped} answers dropped`);
        assert.ok(reported.length > 100 && reported.every((e) => e instanceof OverloadedError));
        for (let i = 0; i < 20; i++) assert.equal(await client.add(i, 1), i + 1);
      } finally {
        flood.close();
        await client.$close();
        await server.close(100);
      }
    });
  });
}
