// Our plain Thrift client with `ttwitter: true`: the upgrade call on connect, then a RequestHeader
// with the call's trace (a child span), client id, deadline and contexts; plain Thrift when the
// server answers the upgrade with an exception. Checked byte for byte against a scripted peer (the
// expected bytes built by hand in test/thriftmux/ttwitter-bytes.ts), against our own servers, and
// against Apache's Python server, which has no TTwitter.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConnectTimeoutError, InvalidArgumentError, ScalesError } from '../../src/core/errors.js';
import { MuxClientId, MuxTrace, receivedValue, ThriftMux, type ServerCallContext, type TraceId } from '../../src/protocols/thriftmux/index.js';
import { Thrift, withContextValue, type ClientControl } from '../../src/protocols/thrift/index.js';
import { CLIENT_ID_CONTEXT } from '../../src/protocols/mux/contexts.js';
import { EchoService, echoHandler, type EchoClient } from '../fixtures/echo-service.js';
import { makeRichHandler, RichService } from '../fixtures/rich-handler.js';
import { startPyServer } from '../harness/peers.js';
import { scriptedServer } from '../mux/raw-peer.js';
import { echoReply, field, framed, i32, messageHead, requestHeader, STOP, str, upgradeCall, upgradeReply } from '../thriftmux/ttwitter-bytes.js';

const TRACE: TraceId = { traceId: 0x55n, spanId: 0x66n, parentId: 0x44n, flags: 2n | 4n };

describe('Thrift client, ttwitter: true', () => {
  test('the exact bytes: the upgrade call, then RequestHeader {ids of a child span, sampled, flags, client_id, ClientIdContext} before the call', async () => {
    const peer = await scriptedServer(async (socket, reader) => {
      assert.deepEqual(await reader.next(), upgradeCall(0), 'CALL __can__finagle__trace__v3__, seqid 0, empty ConnectionOptions');
      socket.write(framed(upgradeReply(0)));
      const m = (await reader.next())!;
      // The span id is new (random): read it where field 2 sits, then every byte must match.
      assert.deepEqual(m.subarray(11, 14), field(10, 2));
      const spanId = m.readBigInt64BE(14);
      const expectedHeader = requestHeader({ traceId: 0x55n, spanId, parentSpanId: 0x66n, sampled: true, clientId: 'web', flags: 6n, contexts: [[CLIENT_ID_CONTEXT, Buffer.from('web')]] });
      assert.deepEqual(m.subarray(0, expectedHeader.length), expectedHeader);
      const call = m.subarray(expectedHeader.length);
      const seqid = call.readInt32BE(4 + 4 + 4);
      assert.deepEqual(call.subarray(0, 16), messageHead('echo', 1, seqid));
      assert.notEqual(spanId, 0x66n, 'a child span');
      socket.write(framed(Buffer.concat([STOP, echoReply(seqid, 1n, 'hi')])));
      await reader.next(1000).catch(() => undefined);
    });
    const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${peer.port}`, { ttwitter: true, clientId: 'web' }) as EchoClient & ClientControl;
    const reply = await withContextValue(MuxTrace, TRACE, () => client.echo(1n, 0, 'hi'));
    assert.deepEqual(reply, { id: 1n, payload: 'hi' });
    await client.$close();
    await peer.done;
    peer.close();
  });

  test('a server without TTwitter (UNKNOWN_METHOD): the connection stays plain', async () => {
    const peer = await scriptedServer(async (socket, reader) => {
      assert.deepEqual(await reader.next(), upgradeCall(0));
      // EXCEPTION, TApplicationException { 1: message, 2: type 1 (UNKNOWN_METHOD) }
      socket.write(framed(Buffer.concat([messageHead('__can__finagle__trace__v3__', 3, 0), field(11, 1), str('Invalid method name'), field(8, 2), i32(1), STOP])));
      const m = (await reader.next())!;
      assert.deepEqual(m.subarray(0, 4), Buffer.from([0x80, 1, 0, 1]), 'a bare CALL: no header');
      socket.write(framed(echoReply(m.readInt32BE(12), 2n, 'plain')));
      await reader.next(1000).catch(() => undefined);
    });
    const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${peer.port}`, { ttwitter: true }) as EchoClient & ClientControl;
    assert.deepEqual(await client.echo(2n, 0, 'plain'), { id: 2n, payload: 'plain' });
    await client.$close();
    await peer.done;
    peer.close();
  });

  test('a server that never answers the upgrade: the connect timeout bounds it', async () => {
    const peer = await scriptedServer(async (_socket, reader) => {
      await reader.next();
      await new Promise((r) => setTimeout(r, 1500));
    });
    const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${peer.port}`, { ttwitter: true, connectTimeout: 200, retries: false }) as EchoClient & ClientControl;
    const started = Date.now();
    await assert.rejects(client.echo(1n, 0, 'x'), (e: unknown) => {
      for (let c = e; c instanceof Error; c = c.cause) if (c instanceof ConnectTimeoutError) return true;
      return e instanceof ScalesError && /TTwitter upgrade/.test(e.message);
    });
    assert.ok(Date.now() - started < 1400, 'failed at the connect timeout, not later');
    await client.$close();
    await peer.done.catch(() => undefined);
    peer.close();
  });

  for (const [label, serve] of [
    ['ThriftMux', (h: Parameters<typeof ThriftMux.serve>[1]) => ThriftMux.serve(EchoService, h as never, { onError: false })],
    ['Thrift', (h: Parameters<typeof ThriftMux.serve>[1]) => Thrift.serve(EchoService, h as never, { onError: false })],
  ] as const) {
    test(`against our ${label} server: the handler sees the child span, the client id and the deadline`, async () => {
      let seen: { trace: TraceId | undefined; clientId: string | undefined; deadline: number | undefined } | undefined;
      const server = await serve({
        echo(id: bigint, delayMs: number, payload: string, ctx: ServerCallContext) {
          seen = { trace: receivedValue(ctx, MuxTrace), clientId: receivedValue(ctx, MuxClientId), deadline: ctx.deadline };
          return echoHandler.echo(id, delayMs, payload, ctx);
        },
      });
      const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { ttwitter: true, clientId: 'web' }) as EchoClient & ClientControl;
      const sent = Date.now();
      assert.deepEqual(await withContextValue(MuxTrace, TRACE, () => client.echo(3n, 0, 'up', { timeout: 2000 })), { id: 3n, payload: 'up' });
      assert.ok(seen?.trace !== undefined);
      assert.equal(seen.trace.traceId, TRACE.traceId);
      assert.equal(seen.trace.parentId, TRACE.spanId);
      assert.notEqual(seen.trace.spanId, TRACE.spanId);
      assert.equal(seen.trace.flags, 6n);
      assert.equal(seen.clientId, 'web');
      assert.ok(seen.deadline !== undefined && seen.deadline > sent + 1500 && seen.deadline <= sent + 2050, `deadline ${seen.deadline === undefined ? '-' : seen.deadline - sent} ms after sending`);
      // No trace set: no ids sent, the handler sees none; the client id still goes.
      await client.echo(4n, 0, 'untraced');
      assert.equal(seen.trace, undefined);
      assert.equal(seen.clientId, 'web');
      await client.$close();
      await server.close();
    });
  }

  test("against Apache's Python server (no TTwitter): falls back to plain Thrift, calls and exceptions work", async () => {
    const srv = await startPyServer({ protocol: 'binary', transport: 'framed' });
    try {
      const client = Thrift.newClient(RichService, `tcp://127.0.0.1:${srv.port}`, { ttwitter: true }) as Record<string, (...a: unknown[]) => Promise<unknown>> & ClientControl;
      assert.equal(await client.addI64!(2n, 3n), 5n);
      await assert.rejects(client.lookup!('missing'), (e: Error) => e.constructor.name === 'NotFound');
      await client.$close();
    } finally {
      await srv.stop();
    }
  });

  test('the rich IDL through our ThriftMux server, upgraded: results, declared exceptions, oneway', async () => {
    const server = await ThriftMux.serve(RichService, makeRichHandler(), { onError: false });
    const client = Thrift.newClient(RichService, `tcp://127.0.0.1:${server.port}`, { ttwitter: true }) as Record<string, (...a: unknown[]) => Promise<unknown>> & ClientControl;
    assert.equal(await client.addI64!(40n, 2n), 42n);
    await assert.rejects(client.lookup!('missing'), (e: Error) => e.constructor.name === 'NotFound');
    await client.record!('evt');
    assert.equal(await client.lastRecorded!(), 'evt');
    await client.$close();
    await server.close();
  });

  test('options: ttwitter needs the framed transport; clientId needs ttwitter', () => {
    assert.throws(() => Thrift.newClient(EchoService, 'tcp://127.0.0.1:1', { ttwitter: true, transport: 'header' }), InvalidArgumentError);
    assert.throws(() => Thrift.newClient(EchoService, 'tcp://127.0.0.1:1', { clientId: 'web' }), InvalidArgumentError);
    assert.match(Thrift.newBuilder(EchoService).withTTwitter('web').stack('tcp://127.0.0.1:1').describe(), /TTwitter/);
  });
});
