// Our ThriftMux client and server against a scripted raw-socket peer that behaves like Finagle:
// negotiating and not, a 16-byte mux-framer, replies in 1-byte fragments interleaved with Tping and
// Tlease, Tdrain, Tdiscarded, a reused tag, garbage, a flood of pings.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BufferReader, BufferWriter } from '../../src/core/bytes.js';
import { CLIENT_ID_CONTEXT } from '../../src/protocols/mux/contexts.js';
import { Reassembler } from '../../src/protocols/mux/fragments.js';
import { framerHeader, TINIT_CHECK_MESSAGE } from '../../src/protocols/mux/handshake.js';
import { MuxType } from '../../src/protocols/mux/types.js';
import { decodeMessage } from '../../src/protocols/mux/wire.js';
import { binaryProtocol } from '../../src/protocols/thrift/binary.js';
import { MessageType } from '../../src/protocols/thrift/descriptors.js';
import { ThriftMux } from '../../src/protocols/thriftmux/index.js';
import { EchoService, echoHandler } from '../fixtures/echo-service.js';
import { connectRaw, frameOf, scriptedServer, tagOf, typeOf } from './raw-peer.js';

const binary = binaryProtocol();
const echo = EchoService.methods['echo']!;

function thriftMessage(type: MessageType, struct: typeof echo.args, value: object): Buffer {
  const w = new BufferWriter(64);
  binary.writeMessageHeader(w, 'echo', type, 0);
  binary.writeStruct(w, struct, value);
  return w.takeCopy();
}

/** An `Rdispatch OK` for tag, carrying echo's REPLY, as one buffer (type tag body). */
function echoReply(tag: number, id: bigint, payload: string): Buffer {
  const thrift = thriftMessage(MessageType.REPLY, echo.result, { success: { id, payload } });
  return Buffer.concat([Buffer.from([0xfe, tag >> 16, (tag >> 8) & 0xff, tag & 0xff, 0, 0, 0]), thrift]);
}

function sized(m: Buffer): Buffer {
  const out = Buffer.alloc(4 + m.length);
  out.writeUInt32BE(m.length, 0);
  m.copy(out, 4);
  return out;
}

function tdispatch(tag: number, id: bigint, delayMs: number, payload: string): Buffer {
  const thrift = thriftMessage(MessageType.CALL, echo.args, { id, delayMs, payload });
  return Buffer.concat([Buffer.from([0x02, tag >> 16, (tag >> 8) & 0xff, tag & 0xff, 0, 0, 0, 0, 0, 0]), thrift]);
}

describe('our client against a scripted server', () => {
  test('negotiated: fragments to the server’s 16-byte framer, reads 1-byte fragments between a Tping and a Tlease, answers Tdrain and closes', async () => {
    let fragmentSizes: number[] = [];
    const peer = await scriptedServer(async (socket, reader) => {
      assert.deepEqual(await reader.next(), TINIT_CHECK_MESSAGE, 'the probe comes first');
      socket.write(sized(TINIT_CHECK_MESSAGE));
      const tinit = decodeMessage((await reader.next())!);
      assert.equal(tinit.type, 'Tinit');
      socket.write(frameOf({ type: 'Rinit', tag: 1, version: 1, headers: [framerHeader(16)] }));
      const r = new Reassembler(1 << 20, 4);
      let whole: Buffer | undefined;
      while (whole === undefined) {
        const f = (await reader.next())!;
        fragmentSizes.push(f.length);
        whole = r.accept(f);
      }
      const call = decodeMessage(whole);
      assert.equal(call.type, 'Tdispatch');
      if (call.type !== 'Tdispatch') return;
      assert.equal(call.tag, 2, 'the first dispatch tag is 2');
      const id = call.contexts.find(([k]) => k.toString() === CLIENT_ID_CONTEXT);
      assert.equal(id?.[1].toString(), 'raw-test');
      // The reply in 1-byte pieces, with a Tping and a Tlease in the middle.
      const reply = echoReply(2, 5n, 'abc');
      const header = reply.subarray(0, 4);
      for (let at = 4; at < reply.length; at++) {
        const last = at === reply.length - 1;
        const h = Buffer.from(header);
        if (!last) h[1]! |= 0x80;
        socket.write(sized(Buffer.concat([h, reply.subarray(at, at + 1)])));
        if (at === 6) socket.write(frameOf({ type: 'Tping', tag: 1 }));
        if (at === 8) socket.write(frameOf({ type: 'Tlease', tag: 0, unit: 0, howMuch: 60_000n }));
      }
      const rping = await reader.next();
      assert.equal(typeOf(rping!), MuxType.Rping, 'the client answered the Tping');
      assert.equal(tagOf(rping!), 1);
      socket.write(frameOf({ type: 'Tdrain', tag: 1 }));
      const rdrain = await reader.next();
      assert.equal(typeOf(rdrain!), MuxType.Rdrain, 'the client answered the Tdrain');
      assert.equal(await reader.next(), undefined, 'then closed: nothing was in flight');
      socket.end();
    });
    const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${peer.port}`, { clientId: 'raw-test', retries: false });
    assert.deepEqual(await client.echo(5n, 0, 'abc'), { id: 5n, payload: 'abc' });
    await peer.done;
    assert.ok(fragmentSizes.length > 3, `the call went out in ${fragmentSizes.length} frames`);
    assert.ok(
      fragmentSizes.every((n) => n <= 16),
      `every frame within the framer: ${fragmentSizes.join(',')}`,
    );
    fragmentSizes = [];
    await client.$close();
    peer.close();
  });

  test('a server that never negotiates (answers the probe with Rerr, then pings) is talked to as it is', async () => {
    const peer = await scriptedServer(async (socket, reader) => {
      assert.deepEqual(await reader.next(), TINIT_CHECK_MESSAGE);
      socket.write(frameOf({ type: 'Rerr', tag: 1, reason: 'unexpected Rerr', legacy: false }));
      socket.write(frameOf({ type: 'Tping', tag: 1 }));
      const frames = await reader.until((f) => typeOf(f) === MuxType.Tdispatch);
      assert.ok(
        frames.some((f) => typeOf(f) === MuxType.Rping),
        'the early Tping was answered',
      );
      assert.ok(!frames.some((f) => typeOf(f) === MuxType.Tinit), 'no Tinit to a server that did not echo the probe');
      const call = frames.at(-1)!;
      socket.write(sized(echoReply(tagOf(call), 1n, 'plain')));
      await reader.next(2000).catch(() => undefined);
      socket.end();
    });
    const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${peer.port}`, { retries: false });
    assert.deepEqual(await client.echo(1n, 0, 'plain'), { id: 1n, payload: 'plain' });
    await client.$close();
    await peer.done;
    peer.close();
  });

  test("a call's timeout goes out as Finagle's Deadline: stamped at the call's start, due timeout ms later, both wall-clock ns", async () => {
    let stamp = 0;
    let due = 0;
    const peer = await scriptedServer(async (socket, reader) => {
      const frames = await reader.until((f) => typeOf(f) === MuxType.Tdispatch);
      const call = decodeMessage(frames.at(-1)!);
      assert.equal(call.type, 'Tdispatch');
      if (call.type !== 'Tdispatch') return;
      const deadline = call.contexts.find(([k]) => k.toString() === 'com.twitter.finagle.Deadline');
      assert.ok(deadline !== undefined, 'a Deadline context');
      assert.equal(deadline[1].length, 16);
      stamp = Number(deadline[1].readBigInt64BE(0)) / 1e6;
      due = Number(deadline[1].readBigInt64BE(8)) / 1e6;
      socket.write(sized(echoReply(call.tag, 3n, 'timed')));
      await reader.next(2000).catch(() => undefined);
      socket.end();
    });
    const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${peer.port}`, { retries: false, handshake: false });
    const before = Date.now();
    assert.deepEqual(await client.echo(3n, 0, 'timed', { timeout: 2000 }), { id: 3n, payload: 'timed' });
    const after = Date.now();
    // Date.now() steps in whole ms: a ms either way.
    assert.ok(stamp >= before - 1 && stamp <= after + 1, `stamped ${stamp - before} ms after the call began (${after - before} ms call)`);
    assert.ok(Math.abs(due - stamp - 2000) <= 1, `due ${due - stamp} ms after the stamp (want the 2000 ms timeout)`);
    await client.$close();
    await peer.done;
    peer.close();
  });

  test('a reply on a tag no call holds closes the session: the call fails, the next one reconnects', async () => {
    let connections = 0;
    const peer = await scriptedServer(async (socket, reader) => {
      connections++;
      assert.deepEqual(await reader.next(), TINIT_CHECK_MESSAGE);
      socket.write(sized(TINIT_CHECK_MESSAGE));
      await reader.next(); // Tinit
      socket.write(frameOf({ type: 'Rinit', tag: 1, version: 1, headers: [] }));
      await reader.next(); // Tdispatch on tag 2
      socket.write(sized(echoReply(9, 1n, 'misrouted')));
      await reader.next().catch(() => undefined);
    });
    const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${peer.port}`, { retries: false });
    await assert.rejects(client.echo(1n, 0, 'x'), (e: Error & { code?: string }) => e.code === 'SCALES_ERR_PROTOCOL' || e.code === 'SCALES_ERR_CONNECTION_CLOSED');
    assert.equal(connections, 1);
    await client.$close();
    peer.close();
  });
});

describe('the failure detector', () => {
  const handshake = async (socket: import('node:net').Socket, reader: import('./raw-peer.js').FrameReader): Promise<void> => {
    assert.deepEqual(await reader.next(), TINIT_CHECK_MESSAGE);
    socket.write(sized(TINIT_CHECK_MESSAGE));
    await reader.next(); // Tinit
    socket.write(frameOf({ type: 'Rinit', tag: 1, version: 1, headers: [] }));
  };

  test('pings one at a time on tag 1 while the server answers; the session stays', async () => {
    let pings = 0;
    const peer = await scriptedServer(async (socket, reader) => {
      await handshake(socket, reader);
      for (;;) {
        const f = await reader.next(5000).catch(() => undefined);
        if (f === undefined) return;
        if (typeOf(f) === MuxType.Tping) {
          pings++;
          assert.equal(tagOf(f), 1);
          socket.write(frameOf({ type: 'Rping', tag: 1 }));
        } else if (typeOf(f) === MuxType.Tdispatch) socket.write(sized(echoReply(tagOf(f), 1n, 'alive')));
      }
    });
    const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${peer.port}`, { pingInterval: 30, pingTimeout: 200, retries: false });
    assert.deepEqual(await client.echo(1n, 0, 'alive'), { id: 1n, payload: 'alive' });
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(pings >= 3, `pinged ${pings} times`);
    assert.deepEqual(await client.echo(1n, 0, 'alive'), { id: 1n, payload: 'alive' }, 'same session, still usable');
    await client.$close();
    peer.close();
  });

  test('no Rping within the timeout closes the session: its pending call fails, not hangs', async () => {
    let pingsSeen = 0;
    const peer = await scriptedServer(async (socket, reader) => {
      await handshake(socket, reader);
      for (;;) {
        const f = await reader.next(5000).catch(() => undefined);
        if (f === undefined) return; // the client closed
        if (typeOf(f) === MuxType.Tping) pingsSeen++; // never answered
      }
    });
    const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${peer.port}`, { pingInterval: 30, pingTimeout: 150, retries: false });
    const started = Date.now();
    await assert.rejects(client.echo(1n, 0, 'never answered'), /no Rping/);
    assert.ok(Date.now() - started < 2000);
    assert.equal(pingsSeen, 1, 'one ping outstanding at a time');
    await peer.done;
    await client.$close();
    peer.close();
  });
});

describe('our server against a scripted client', () => {
  test('probe echoed exactly, Tinit answered; a Tdispatch in 1-byte fragments is served, the reply fragmented to our framer', async () => {
    const server = await ThriftMux.serve(EchoService, echoHandler, { onError: false });
    const { socket, reader } = await connectRaw(server.port);
    socket.write(sized(TINIT_CHECK_MESSAGE));
    assert.deepEqual(await reader.next(), TINIT_CHECK_MESSAGE, 'the probe comes back byte for byte');
    socket.write(frameOf({ type: 'Tinit', tag: 1, version: 1, headers: [framerHeader(16)] }));
    const rinit = decodeMessage((await reader.next())!);
    assert.equal(rinit.type === 'Rinit' && rinit.version, 1);
    const call = tdispatch(3, 42n, 0, 'fragmented call');
    for (let at = 4; at < call.length; at++) {
      const h = Buffer.from(call.subarray(0, 4));
      if (at < call.length - 1) h[1]! |= 0x80;
      socket.write(sized(Buffer.concat([h, call.subarray(at, at + 1)])));
    }
    const r = new Reassembler(1 << 20, 4);
    let whole: Buffer | undefined;
    const sizes: number[] = [];
    while (whole === undefined) {
      const f = (await reader.next())!;
      sizes.push(f.length);
      whole = r.accept(f);
    }
    assert.ok(sizes.length > 1 && sizes.every((n) => n <= 16), `reply frames within our framer of 16: ${sizes.join(',')}`);
    assert.equal(typeOf(whole), MuxType.Rdispatch);
    assert.equal(tagOf(whole), 3);
    assert.deepEqual(whole, echoReply(3, 42n, 'fragmented call'));
    socket.destroy();
    await server.close();
  });

  test('Tdiscarded: Rdiscarded comes back, and the call is never answered', async () => {
    const server = await ThriftMux.serve(EchoService, echoHandler, { onError: false });
    const { socket, reader } = await connectRaw(server.port);
    socket.write(sized(tdispatch(2, 1n, 300, 'slow')));
    await new Promise((r) => setTimeout(r, 30));
    socket.write(frameOf({ type: 'Tdiscarded', tag: 0, which: 2, reason: 'gave up', legacy: true }));
    const rdisc = (await reader.next())!;
    assert.deepEqual([typeOf(rdisc), tagOf(rdisc)], [MuxType.Rdiscarded, 2]);
    await new Promise((r) => setTimeout(r, 450)); // past the handler's own 300 ms
    socket.write(frameOf({ type: 'Tping', tag: 1 }));
    const next = (await reader.next())!;
    assert.equal(typeOf(next), MuxType.Rping, 'the next frame is the Rping: the discarded call was never answered');
    socket.write(sized(tdispatch(2, 2n, 0, 'tag 2 again')));
    assert.deepEqual(await reader.next(), echoReply(2, 2n, 'tag 2 again'), 'the discarded tag is free again');
    socket.destroy();
    await server.close();
  });

  test("a Finagle plain-Thrift client's TTwitter upgrade call is accepted (REPLY), then every message carries a header (test/thriftmux/ttwitter.test.ts)", async () => {
    const server = await ThriftMux.serve(EchoService, echoHandler, { onError: false });
    const { socket, reader } = await connectRaw(server.port);
    const w = new BufferWriter(64);
    binary.writeMessageHeader(w, '__can__finagle__trace__v3__', MessageType.CALL, 0);
    w.writeU8(0); // empty struct
    socket.write(sized(w.takeCopy()));
    const r1 = new BufferReader((await reader.next())!);
    const h1 = binary.readMessageHeader(r1);
    assert.deepEqual([h1.name, h1.type, h1.seqid], ['__can__finagle__trace__v3__', MessageType.REPLY, 0]);
    // RequestHeader {1: trace_id, 2: span_id} then the call; the answer: an empty ResponseHeader, then the REPLY.
    const header = Buffer.from([0x0a, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x0a, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0]);
    socket.write(sized(Buffer.concat([header, thriftMessage(MessageType.CALL, echo.args, { id: 3n, delayMs: 0, payload: 'traced' })])));
    const r2 = new BufferReader((await reader.next())!);
    assert.equal(r2.readU8(), 0, 'the ResponseHeader: an empty struct');
    const h2 = binary.readMessageHeader(r2);
    assert.deepEqual([h2.name, h2.type], ['echo', MessageType.REPLY]);
    assert.deepEqual(binary.readStruct(r2, echo.result), { success: { id: 3n, payload: 'traced' } });
    socket.destroy();
    await server.close();
  });

  test('plain Thrift on the Mux port is answered in request order, whatever order handlers finish in', async () => {
    const server = await ThriftMux.serve(EchoService, echoHandler, { onError: false });
    const { socket, reader } = await connectRaw(server.port);
    const call = (seqid: number, name: string, delayMs: number): Buffer => {
      const w = new BufferWriter(64);
      binary.writeMessageHeader(w, name, MessageType.CALL, seqid);
      binary.writeStruct(w, echo.args, { id: BigInt(seqid), delayMs, payload: `p${seqid}` });
      return sized(w.takeCopy());
    };
    // 1 is slow, 2 is at once, 3 names no method, 4 is at once: answers must still come 1, 2, 3, 4.
    socket.write(Buffer.concat([call(1, 'echo', 150), call(2, 'echo', 0), call(3, 'nope', 0), call(4, 'echo', 0)]));
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      const h = binary.readMessageHeader(new BufferReader((await reader.next())!));
      got.push(`${h.seqid}:${h.name}:${h.type}`);
    }
    assert.deepEqual(got, ['1:echo:2', '2:echo:2', '3:nope:3', '4:echo:2']);
    socket.destroy();
    await server.close();
  });

  test('a flood of Tpings is answered one for one', async () => {
    const server = await ThriftMux.serve(EchoService, echoHandler, { onError: false });
    const { socket, reader } = await connectRaw(server.port);
    const n = 2000;
    socket.write(Buffer.concat(Array.from({ length: n }, (_, i) => frameOf({ type: 'Tping', tag: 1 + (i % 100) }))));
    for (let i = 0; i < n; i++) {
      const f = (await reader.next())!;
      assert.equal(typeOf(f), MuxType.Rping);
      assert.equal(tagOf(f), 1 + (i % 100));
    }
    socket.destroy();
    await server.close();
  });

  const piece = (tag: number, n: number): Buffer => sized(Buffer.concat([Buffer.from([0x02, 0x80 | (tag >> 16), (tag >> 8) & 0xff, tag & 0xff]), Buffer.alloc(n)]));
  for (const [what, bytes, limit] of [
    ['a tag reused while its call is in flight', () => Buffer.concat([sized(tdispatch(5, 1n, 500, 'a')), sized(tdispatch(5, 2n, 0, 'b'))]), undefined],
    ['garbage (an unknown R-message type)', () => sized(Buffer.from([0x90, 0, 0, 2, 1, 2, 3])), undefined],
    ['a Tdispatch claiming 65535 contexts', () => sized(Buffer.from([2, 0, 0, 2, 0xff, 0xff, 0, 0])), undefined],
    ['a fragment stream that never ends (past the message limit)', () => Buffer.concat(Array.from({ length: 40 }, () => piece(2, 100))), 2048],
    ['fragments begun on more tags than allowed', () => Buffer.concat(Array.from({ length: 65 }, (_, i) => piece(2 + i, 1))), undefined],
  ] as const) {
    test(`${what} closes that session only`, async () => {
      const server = await ThriftMux.serve(EchoService, echoHandler, { onError: false, maxFrameSize: limit });
      const good = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${server.port}`);
      assert.deepEqual(await good.echo(1n, 0, 'before'), { id: 1n, payload: 'before' });
      const { socket, reader } = await connectRaw(server.port);
      socket.write(bytes());
      const seen: number[] = [];
      for (;;) {
        const f = await reader.next();
        if (f === undefined) break;
        seen.push(typeOf(f));
      }
      assert.ok(!seen.includes(MuxType.Rdispatch), `no answer to the offending call (${seen.join(',')})`);
      assert.deepEqual(await good.echo(2n, 0, 'after'), { id: 2n, payload: 'after' }, 'other sessions are untouched');
      await good.$close();
      await server.close();
    });
  }
});
