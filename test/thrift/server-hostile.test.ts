// Hostile bytes sent to our server over raw sockets: each case must get a typed error (seen
// through the server's onError hook), close only that connection — fast — and never disturb a
// healthy client using the same server at the same time.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BufferWriter } from '../../src/core/bytes.js';
import { FrameTooLargeError, ProtocolError, ScalesError } from '../../src/core/errors.js';
import { binaryProtocol, MessageType, Thrift, TType, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { EchoService, echoHandler, type EchoClient } from '../fixtures/echo-service.js';
import type { ClientControl } from '../../src/protocols/thrift/index.js';

const binary = binaryProtocol();

/** A valid framed `echo` call, so the cases below can corrupt one thing at a time. */
function echoCall(seqid = 1): Buffer {
  const w = new BufferWriter(256);
  binary.writeMessageHeader(w, 'echo', MessageType.CALL, seqid);
  binary.writeStruct(w, EchoService.methods['echo']!.args, { id: 7n, delayMs: 0, payload: 'hi' });
  return frame(w.takeCopy());
}

function frame(body: Buffer, declaredLength = body.length): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(declaredLength >>> 0);
  return Buffer.concat([head, body]);
}

/** A CALL header for `echo` followed by a hand-made args body. */
function callWithBody(body: number[]): Buffer {
  const w = new BufferWriter(64);
  binary.writeMessageHeader(w, 'echo', MessageType.CALL, 1);
  w.writeBytes(Buffer.from(body));
  return frame(w.takeCopy());
}

/** Sends bytes (optionally half-closing), resolves with what the server sent back once it closed. */
function sendRaw(port: number, bytes: Buffer, opts: { end?: boolean; timeoutMs?: number } = {}): Promise<{ closed: boolean; received: Buffer; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(bytes);
      if (opts.end) sock.end();
    });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ closed: false, received: Buffer.concat(chunks), ms: Date.now() - started });
    }, opts.timeoutMs ?? 3000);
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, received: Buffer.concat(chunks), ms: Date.now() - started });
    });
  });
}

const i16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
const i32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

describe('hostile input to the Thrift server', () => {
  let server: ThriftServer;
  const errors: unknown[] = [];
  let healthy: EchoClient & ClientControl;
  let background: Promise<number>;
  let stop = false;

  before(async () => {
    server = await Thrift.serve(EchoService, echoHandler, { onError: (err) => errors.push(err), maxFrameSize: 1024 * 1024 });
    healthy = Thrift.newClient(EchoService, `tcp://127.0.0.1:${server.port}`);
    // A well-behaved caller keeps calling through every case below; none of its calls may fail.
    background = (async () => {
      let n = 0;
      while (!stop) {
        const id = BigInt(n++);
        const reply = await healthy.echo(id, 1, `ok${id}`);
        assert.equal(reply.id, id);
      }
      return n;
    })();
  });

  after(async () => {
    stop = true;
    const calls = await background;
    assert.ok(calls > 10, `the healthy client kept working (${calls} calls)`);
    await healthy.$close();
    await server.close();
  });

  async function expectClosedWith(bytes: Buffer, type: new (...a: never[]) => ScalesError, pattern: RegExp, opts: { end?: boolean } = {}): Promise<void> {
    errors.length = 0;
    const r = await sendRaw(server.port, bytes, opts);
    assert.ok(r.closed, 'the server closed the connection');
    assert.ok(r.ms < 2000, `closed promptly (${r.ms} ms)`);
    assert.equal(r.received.length, 0, 'no reply to a broken message');
    const err = errors.find((e) => e instanceof type);
    assert.ok(err, `onError saw a ${type.name}: ${errors.map(String).join('; ')}`);
    assert.match((err as Error).message, pattern);
  }

  test('a valid call gets its reply (the baseline the cases corrupt)', async () => {
    const r = await sendRaw(server.port, echoCall(), { end: true });
    assert.ok(r.received.length > 4);
    assert.equal(r.received.readUInt32BE(0), r.received.length - 4);
  });

  test('a 4 GiB length prefix is refused without allocating it', async () => {
    const before = process.memoryUsage().arrayBuffers;
    await expectClosedWith(frame(Buffer.alloc(16), 0xffffffff), FrameTooLargeError, /4294967295/);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
  });

  test('a truncated frame followed by close', async () => {
    const full = echoCall();
    errors.length = 0;
    const r = await sendRaw(server.port, full.subarray(0, full.length - 3), { end: true });
    assert.ok(r.closed);
    assert.equal(r.received.length, 0);
  });

  test('a frame whose message ends early', async () => {
    const full = echoCall();
    const body = full.subarray(4, full.length - 3);
    await expectClosedWith(frame(body), ProtocolError, /truncated/);
  });

  test('negative container size', async () => {
    // field 3 declared as a list<i32> (wrong type for `payload` would be skipped) with size -1
    await expectClosedWith(callWithBody([TType.LIST, ...i16(9), TType.I32, ...i32(-1), 0]), ProtocolError, /negative|size/i);
  });

  test('a container claiming 2^31-1 elements in a few bytes', async () => {
    await expectClosedWith(callWithBody([TType.MAP, ...i16(9), TType.I32, TType.I32, ...i32(0x7fffffff), 0]), ProtocolError, /.+/);
  });

  test('an unknown type id', async () => {
    await expectClosedWith(callWithBody([0x42, ...i16(9), 1, 2, 3, 0]), ProtocolError, /type/i);
  });

  test('absurd nesting', async () => {
    const deep: number[] = [TType.STRUCT, ...i16(9)];
    for (let i = 0; i < 10_000; i++) deep.push(TType.STRUCT, ...i16(1));
    await expectClosedWith(callWithBody(deep), ProtocolError, /depth|nest/i);
  });

  test('garbage bytes', async () => {
    await expectClosedWith(frame(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), ProtocolError, /.+/);
  });

  test('a reply-type message sent to a server', async () => {
    const w = new BufferWriter(64);
    binary.writeMessageHeader(w, 'echo', MessageType.REPLY, 1);
    w.writeU8(0);
    await expectClosedWith(frame(w.takeCopy()), ProtocolError, /CALL or ONEWAY/);
  });

  test('random garbage never crashes the server', async () => {
    for (let i = 0; i < 50; i++) {
      const junk = Buffer.from(Array.from({ length: 8 + Math.floor(Math.random() * 200) }, () => Math.floor(Math.random() * 256)));
      const r = await sendRaw(server.port, junk, { end: true, timeoutMs: 2000 });
      assert.ok(r.closed, `case ${i} closed`);
    }
    assert.ok(
      errors.every((e) => e instanceof ScalesError),
      'every failure is typed',
    );
  });
});

describe('hostile input to a buffered (unframed) server', () => {
  test('a string length beyond the limit closes at once instead of waiting for 1 GiB', async () => {
    const errors: unknown[] = [];
    const server = await Thrift.serve(EchoService, echoHandler, { transport: 'buffered', maxFrameSize: 64 * 1024, onError: (e) => errors.push(e) });
    const w = new BufferWriter(64);
    binary.writeMessageHeader(w, 'echo', MessageType.CALL, 1);
    w.writeBytes(Buffer.from([TType.STRING, ...i16(3), ...i32(1 << 30)]));
    const r = await sendRaw(server.port, w.takeCopy());
    assert.ok(r.closed && r.ms < 2000);
    assert.ok(
      errors.some((e) => e instanceof ScalesError),
      errors.map(String).join('; '),
    );
    await server.close();
  });

  test('bytes trickling past the frame limit without a complete message', async () => {
    const errors: unknown[] = [];
    const server = await Thrift.serve(EchoService, echoHandler, { transport: 'buffered', maxFrameSize: 4096, onError: (e) => errors.push(e) });
    const w = new BufferWriter(64);
    binary.writeMessageHeader(w, 'echo', MessageType.CALL, 1);
    // A list of 1000 strings each claiming 100 bytes: legal piecewise, too big in total.
    w.writeBytes(Buffer.from([TType.LIST, ...i16(9), TType.STRING, ...i32(1000)]));
    for (let i = 0; i < 100; i++) w.writeBytes(Buffer.from([...i32(100), ...Buffer.alloc(100)]));
    const r = await sendRaw(server.port, w.takeCopy());
    assert.ok(r.closed && r.ms < 2000);
    assert.ok(
      errors.some((e) => e instanceof FrameTooLargeError),
      errors.map(String).join('; '),
    );
    await server.close();
  });
});
