// Our ThriftMux server against a client that writes what the original Python Scales ThriftMux
// client writes (steveniemitz/scales: scales/thriftmux/sink.py, serializer.py, message.py), byte
// for byte over a raw socket: a Tping on tag 1 before anything else and no Tinit; tags from 2;
// every Tdispatch with one context, `com.twitter.finagle.Deadline`, holding (now in whole
// seconds, the call's *timeout*) in nanoseconds — a timeout where Finagle has a deadline — then
// empty dest and dtab, then a strict TBinary CALL with seqid 0; a timed-out call's Tdiscarded is
// type 66 on tag 0 with the reason 'Client timeout'. Then our client against a server that
// behaves like Python Scales' ThriftMux server (scales/thriftmux/server_sink.py): it answers
// Tping and Tdispatch and ignores every other message, the handshake probe included.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BufferReader, BufferWriter } from '../../src/core/bytes.js';
import { BinaryProtocol } from '../../src/protocols/thrift/binary.js';
import { ConnectError } from '../../src/core/errors.js';
import { MessageType } from '../../src/protocols/thrift/index.js';
import { ThriftMux } from '../../src/protocols/thriftmux/index.js';
import type { ThriftMuxServer } from '../../src/protocols/thriftmux/server.js';
import { abortableEcho, EchoService, type EchoClient } from '../fixtures/echo-service.js';
import { until } from '../harness/wait.js';
import { connectRaw, FrameReader, rdispatchThrift, tagOf, typeOf } from './raw-peer.js';

const TDISPATCH = 2;
const RDISPATCH = -2;
const TPING = 65;
const RPING = -65;
const TDISCARDED = 66;
const DEADLINE_KEY = Buffer.from('com.twitter.finagle.Deadline', 'latin1');

/** Python Scales' `_BuildHeader` and payload: size, type, 3-byte tag, body. */
function frame(type: number, tag: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(8);
  head.writeInt32BE(4 + body.length, 0);
  head.writeInt8(type, 4);
  head.writeUIntBE(tag, 5, 3);
  return Buffer.concat([head, body]);
}

/** A Tdispatch body as `_Marshal_Tdispatch` writes it, with the Deadline Scales' way: `(long(time.time()) * 10^9, timeout * 10^9)`. */
function tdispatchBody(timeoutSeconds: number, id: bigint, delayMs: number, payload: string): Buffer {
  const ctx = Buffer.alloc(2 + 2 + DEADLINE_KEY.length + 2 + 16 + 4);
  let at = ctx.writeInt16BE(1, 0);
  at = ctx.writeInt16BE(DEADLINE_KEY.length, at);
  at += DEADLINE_KEY.copy(ctx, at);
  at = ctx.writeInt16BE(16, at);
  at = ctx.writeBigInt64BE(BigInt(Math.floor(Date.now() / 1000)) * 1_000_000_000n, at);
  at = ctx.writeBigInt64BE(BigInt(Math.round(timeoutSeconds * 1e9)), at);
  ctx.writeInt32BE(0, at); // len(dst), len(dtab)
  const w = new BufferWriter(128);
  BinaryProtocol.writeMessageHeader(w, 'echo', MessageType.CALL, 0);
  BinaryProtocol.writeStruct(w, EchoService.methods.echo.args, { id, delayMs, payload });
  return Buffer.concat([ctx, w.takeCopy()]);
}

/** An Rdispatch OK's Thrift reply (Scales skips the reply contexts), decoded. */
function replyOf(f: Buffer): { type: number; result: Record<string, unknown> } {
  const r = rdispatchThrift(f);
  const { name, type } = BinaryProtocol.readMessageHeader(r);
  assert.equal(name, 'echo');
  if (type !== MessageType.REPLY) return { type, result: {} };
  return { type, result: BinaryProtocol.readStruct(r, EchoService.methods.echo.result) as Record<string, unknown> };
}

describe('the original Python Scales ThriftMux client, byte for byte', () => {
  let server: ThriftMuxServer;
  let socket: net.Socket;
  let reader: FrameReader;
  const aborted: string[] = [];
  const handler = abortableEcho((_id, payload) => aborted.push(payload));

  before(async () => {
    server = await ThriftMux.serve(EchoService, handler, { onError: false });
    ({ socket, reader } = await connectRaw(server.port));
  });
  after(async () => {
    socket.destroy();
    await server.close();
  });

  test('its opening Tping on tag 1 is answered with Rping, with no handshake before it', async () => {
    socket.write(frame(TPING, 1));
    const f = await reader.next();
    assert.ok(f !== undefined, 'the server closed the connection');
    assert.deepEqual([typeOf(f), tagOf(f), f.length], [RPING, 1, 4]);
  });

  test("a call with Scales' 10 s timeout in the Deadline context runs and is answered", async () => {
    socket.write(frame(TDISPATCH, 2, tdispatchBody(10, 7n, 0, 'from python scales')));
    const f = await reader.next();
    assert.ok(f !== undefined);
    assert.equal(tagOf(f), 2);
    const { type, result } = replyOf(f);
    assert.equal(type, MessageType.REPLY, 'a REPLY, not an EXCEPTION (the timeout read as a deadline in 1970 refuses the call)');
    assert.deepEqual(result, { success: { id: 7n, payload: 'from python scales' } });
  });

  test('that timeout still bounds the handler: a 0.3 s timeout stops a 20 s handler', async () => {
    const sent = Date.now();
    socket.write(frame(TDISPATCH, 3, tdispatchBody(0.3, 8n, 20_000, 'slow')));
    const f = await reader.next(10_000);
    assert.ok(f !== undefined);
    const waited = Date.now() - sent;
    assert.equal(tagOf(f), 3);
    assert.ok(waited >= 250, `answered after ${waited} ms: before the 0.3 s timeout`);
    assert.ok(waited < 10_000, `answered after ${waited} ms`);
    assert.notEqual(replyOf(f).type, MessageType.REPLY, 'the timed-out call is answered with an error');
    await until('the handler saw its signal abort', () => aborted.includes('slow'));
  });

  test("its Tdiscarded (type 66, tag 0, 'Client timeout') aborts the handler; the session goes on", async () => {
    socket.write(frame(TDISPATCH, 4, tdispatchBody(10, 9n, 20_000, 'discarded')));
    const which = Buffer.alloc(3);
    which.writeUIntBE(4, 0, 3);
    socket.write(frame(TDISCARDED, 0, Buffer.concat([which, Buffer.from('Client timeout')])));
    await until('the handler saw its signal abort', () => aborted.includes('discarded'));
    socket.write(frame(TDISPATCH, 5, tdispatchBody(10, 10n, 0, 'after the discard')));
    const seen = await reader.until((f) => tagOf(f) === 5);
    assert.ok(!seen.some((f) => typeOf(f) === RDISPATCH && tagOf(f) === 4), 'no Rdispatch for the discarded call');
    assert.deepEqual(replyOf(seen.at(-1)!).result, { success: { id: 10n, payload: 'after the discard' } });
    assert.equal(server.connections, 1);
  });
});

/** Python Scales' ThriftMux server, as far as the wire goes: Rping for Tping, an echo for Tdispatch, nothing for the rest. */
async function scalesLikeServer(): Promise<{ port: number; ignored: number[]; close(): void }> {
  const ignored: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const reader = new FrameReader(socket);
    void (async () => {
      for (;;) {
        const f = await reader.next(60_000).catch(() => undefined);
        if (f === undefined) return;
        const type = typeOf(f);
        if (type === TPING) socket.write(frame(RPING, tagOf(f)));
        else if (type === TDISPATCH) socket.write(frame(RDISPATCH, tagOf(f), echoReply(f)));
        else ignored.push(type);
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    ignored,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** Rdispatch OK (no contexts) carrying the REPLY to the echo call in Tdispatch `f`. */
function echoReply(f: Buffer): Buffer {
  const r = new BufferReader(f);
  r.pos = 4;
  const n = r.buf.readInt16BE(r.pos);
  r.pos += 2;
  for (let i = 0; i < 2 * n; i++) r.pos += 2 + r.buf.readInt16BE(r.pos);
  r.pos += 2 + r.buf.readInt16BE(r.pos); // dest
  const nd = r.buf.readInt16BE(r.pos);
  r.pos += 2;
  for (let i = 0; i < 2 * nd; i++) r.pos += 2 + r.buf.readInt16BE(r.pos);
  const { name, seqid } = BinaryProtocol.readMessageHeader(r);
  const args = BinaryProtocol.readStruct(r, EchoService.methods.echo.args) as { id: bigint; payload: string };
  const w = new BufferWriter(128);
  w.writeU8(0); // OK
  w.writeI16(0); // no contexts
  BinaryProtocol.writeMessageHeader(w, name, MessageType.REPLY, seqid);
  BinaryProtocol.writeStruct(w, EchoService.methods.echo.result, { success: { id: args.id, payload: args.payload } });
  return w.takeCopy();
}

describe('our client against a server that ignores the handshake probe, as the Python Scales server does', () => {
  test('the handshake times out naming handshake: false; with it, calls are answered', async () => {
    const peer = await scalesLikeServer();
    const negotiating = ThriftMux.newClient<EchoClient>(EchoService, `tcp://127.0.0.1:${peer.port}`, { connectTimeout: 300 });
    const plain = ThriftMux.newClient<EchoClient>(EchoService, `tcp://127.0.0.1:${peer.port}`, { handshake: false });
    try {
      await assert.rejects(negotiating.echo(1n, 0, 'probe'), (err: unknown) => {
        assert.ok(err instanceof ConnectError, String(err));
        assert.match(err.message, /handshake: false/);
        return true;
      });
      assert.ok(peer.ignored.includes(127), `the probe (type 127) reached the server and was ignored: ${peer.ignored.join(',')}`);
      assert.deepEqual(await plain.echo(2n, 0, 'no handshake'), { id: 2n, payload: 'no handshake' });
    } finally {
      await negotiating.$close();
      await plain.$close();
      peer.close();
    }
  });
});
