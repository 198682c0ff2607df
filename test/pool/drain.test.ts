// close(grace) over real TCP, for the watermark and singleton pools (pipeline: pipeline.test.ts):
// the connection closes in the reactions to the last reply (no poll tick), with and without a
// session that offers whenIdle(); and close resolves at the grace when a call outlives it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CallContext, Service } from '../../src/core/service.js';
import { SingletonPool } from '../../src/pool/singleton.js';
import { WatermarkPool } from '../../src/pool/watermark.js';
import type { ThriftReply } from '../../src/protocols/thrift/messages.js';
import { ctx, decodeEcho, echoRequest, type IdleRecordingSession, outcome, startEchoServer, thriftConnector, track, until, type EchoRequest, type EchoServer } from './session-factory.js';

type Pool = Service<EchoRequest, ThriftReply> & { close(graceMs?: number): Promise<void> };

async function echo(pool: Pool, id: number, delayMs = 0, c: CallContext = ctx()): Promise<bigint> {
  return decodeEcho(await pool.call(echoRequest(id, delayMs), c)).id;
}

const kinds = ['watermark', 'singleton', 'singleton+whenIdle'] as const;

describe('close(grace) over real TCP', () => {
  let srv: EchoServer;
  before(async () => {
    srv = await startEchoServer();
  });
  after(() => srv.close(500));

  let next = 0;
  for (const kind of kinds) {
    test(`${kind}: close resolves once the in-flight calls are done, not later`, async () => {
      const c = thriftConnector(() => srv.port, { whenIdle: kind.endsWith('whenIdle') });
      const pool: Pool = kind === 'watermark' ? new WatermarkPool(c.connect, { highWatermark: 2 }) : new SingletonPool(c.connect);
      const [ida, idb] = [++next, ++next];
      const a = track(echo(pool, ida, 80));
      const b = track(echo(pool, idb, 200));
      await until('both in flight', () => srv.ids().includes(BigInt(ida)) && srv.ids().includes(BigInt(idb)));
      const closing = track(pool.close(10_000));
      assert.equal(await a.p, BigInt(ida));
      assert.equal(closing.settled, false, 'one call still running');
      assert.equal(await b.p, BigInt(idb));
      await new Promise((r) => setImmediate(r));
      // Every session is closed (gracefully) in the same turn as the last reply: no poll tick.
      assert.ok(
        c.sessions.every((s) => s.closeCalled && !s.aborted),
        'closed right after the last reply',
      );
      const t0 = Date.now();
      await closing.p;
      assert.ok(Date.now() - t0 < 1000, 'then close resolves as the sockets close');
      if (kind.endsWith('whenIdle')) assert.ok((c.sessions[0] as IdleRecordingSession).idleAsked >= 1, 'asked the session');
    });

    test(`${kind}: a call outliving the grace is cut at the grace`, async () => {
      const c = thriftConnector(() => srv.port, { whenIdle: kind.endsWith('whenIdle') });
      const pool: Pool = kind === 'watermark' ? new WatermarkPool(c.connect) : new SingletonPool(c.connect);
      const id = ++next;
      const slow = outcome(echo(pool, id, 3000));
      await until('in flight', () => srv.ids().includes(BigInt(id)));
      const t0 = Date.now();
      await pool.close(120);
      const took = Date.now() - t0;
      assert.ok(took >= 110 && took < 1500, `close took ${took} ms (grace 120)`);
      const res = await slow;
      assert.ok(!res.ok, 'the call was cut');
      assert.ok(c.sessions[0]!.aborted, 'cut, not ended');
    });
  }
});
