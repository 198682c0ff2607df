// Apache's multiplexed protocol, our client and server: `Service:method` names on the wire, plain
// names in replies, the default service, and the answers for unknown services and methods.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BufferReader, BufferWriter } from '../../src/core/bytes.js';
import { binaryProtocol, MessageType, TApplicationExceptionType, Thrift, ThriftApplicationError, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { TApplicationExceptionDesc } from '../../src/protocols/thrift/application-exception.js';
import { EchoService } from '../fixtures/echo-service.js';
import { makeRichHandler, RichService, type RichClient } from '../fixtures/rich-handler.js';

let lastMethod = '';
const echoHandler = {
  echo: (id: bigint, _d: number, payload: string, ctx: { method: string }) => {
    lastMethod = ctx.method;
    return { id, payload: `echo:${payload}` };
  },
};

/** Sends one raw framed binary CALL named `name` (empty args) and reads the answer's header and exception. */
async function rawCall(port: number, name: string, seqid = 77): Promise<{ name: string; type: number; seqid: number; exception?: { message?: string; type?: number } }> {
  const p = binaryProtocol();
  const w = new BufferWriter(256);
  w.writeU32(0);
  p.writeMessageHeader(w, name, MessageType.CALL, seqid);
  w.writeU8(0); // empty args struct
  const frame = Buffer.from(w.buf.subarray(0, w.pos));
  frame.writeUInt32BE(frame.length - 4, 0);
  const sock = net.connect(port, '127.0.0.1');
  sock.write(frame);
  const chunks: Buffer[] = [];
  for await (const c of sock) {
    chunks.push(c as Buffer);
    const all = Buffer.concat(chunks);
    if (all.length >= 4 && all.length >= 4 + all.readUInt32BE(0)) {
      sock.destroy();
      const r = new BufferReader(all, 4, 4 + all.readUInt32BE(0));
      const h = p.readMessageHeader(r);
      const exception = h.type === MessageType.EXCEPTION ? (p.readStruct(r, TApplicationExceptionDesc) as { message?: string; type?: number }) : undefined;
      return { ...h, exception };
    }
  }
  throw new Error('connection closed without an answer');
}

describe('multiplexed server (Thrift.serveMultiplexed)', () => {
  let server: ThriftServer;
  before(async () => {
    server = await Thrift.serveMultiplexed({ RichService: [RichService, makeRichHandler()], Echo: [EchoService, echoHandler] }, { onError: false });
  });
  after(() => server.close());

  test('two services on one port, each client prefixing its own name', async () => {
    const rich = Thrift.newBuilder(RichService).withServiceName('RichService').withTimeout(5000).build(`tcp://127.0.0.1:${server.port}`) as RichClient & { $close(): Promise<void> };
    const echo = Thrift.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { serviceName: 'Echo', timeout: 5000 });
    try {
      assert.equal(await rich.ping!(), 'pong');
      assert.equal(await rich.lookup!('k'), 'value:k');
      assert.deepEqual(await echo.echo(5n, 0, 'x'), { id: 5n, payload: 'echo:x' });
    } finally {
      await rich.$close();
      await echo.$close();
    }
  });

  test('the reply names the plain method, with the seqid of the call', async () => {
    const got = await rawCall(server.port, 'RichService:ping', 1234);
    assert.equal(got.name, 'ping');
    assert.equal(got.type, MessageType.REPLY);
    assert.equal(got.seqid, 1234);
  });

  test('the handler context names the method as Service:method', async () => {
    lastMethod = '';
    await rawCall(server.port, 'Echo:echo');
    assert.equal(lastMethod, 'Echo:echo');
  });

  test('an unknown service is a PROTOCOL_ERROR named after the call, as Apache C++ answers it', async () => {
    const got = await rawCall(server.port, 'Nope:ping', 9);
    assert.equal(got.type, MessageType.EXCEPTION);
    assert.equal(got.name, 'Nope:ping');
    assert.equal(got.seqid, 9);
    assert.equal(got.exception?.type, TApplicationExceptionType.PROTOCOL_ERROR);
    assert.equal(got.exception?.message, 'TMultiplexedProcessor: Unknown service: Nope');
  });

  test('an unknown method of a known service is UNKNOWN_METHOD under the plain name', async () => {
    const got = await rawCall(server.port, 'Echo:nope');
    assert.equal(got.name, 'nope');
    assert.equal(got.exception?.type, TApplicationExceptionType.UNKNOWN_METHOD);
  });

  test("a plain name without a default service is refused with Apache's hint", async () => {
    const got = await rawCall(server.port, 'ping');
    assert.equal(got.exception?.type, TApplicationExceptionType.PROTOCOL_ERROR);
    assert.match(got.exception?.message ?? '', /Did you forget to use TMultiplexedProtocol/);
  });

  test('a client without serviceName gets that as a ThriftApplicationError', async () => {
    const plain = Thrift.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { timeout: 5000, retries: false } as never);
    try {
      await assert.rejects(plain.echo(1n, 0, 'x'), (err: unknown) => err instanceof ThriftApplicationError && err.type === TApplicationExceptionType.PROTOCOL_ERROR);
    } finally {
      await plain.$close();
    }
  });

  test('hostile service names: empty, only a separator, huge, many separators', async () => {
    for (const name of [':ping', ':', `${'S'.repeat(100_000)}:ping`, 'a:b:c:ping', '\u0000:ping', '__proto__:ping', 'constructor:toString']) {
      const got = await rawCall(server.port, name);
      assert.equal(got.type, MessageType.EXCEPTION, name.slice(0, 40));
      assert.ok(got.name.length < 200, 'the name is echoed truncated');
    }
    // and the server still serves
    assert.equal((await rawCall(server.port, 'RichService:version')).type, MessageType.REPLY);
  });
});

describe('multiplexed server with a default service (registerDefault)', () => {
  let server: ThriftServer;
  before(async () => {
    server = await Thrift.serveMultiplexed({ RichService: [RichService, makeRichHandler()], Echo: [EchoService, echoHandler] }, { defaultService: 'Echo', onError: false });
  });
  after(() => server.close());

  test('plain names go to the default service; prefixed ones still work', async () => {
    const plain = Thrift.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { timeout: 5000 });
    const prefixed = Thrift.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { timeout: 5000, serviceName: 'Echo' });
    try {
      assert.deepEqual(await plain.echo(1n, 0, 'a'), { id: 1n, payload: 'echo:a' });
      assert.deepEqual(await prefixed.echo(2n, 0, 'b'), { id: 2n, payload: 'echo:b' });
    } finally {
      await plain.$close();
      await prefixed.$close();
    }
    assert.equal((await rawCall(server.port, 'nope')).exception?.type, TApplicationExceptionType.UNKNOWN_METHOD);
  });
});

describe('serveMultiplexed arguments', () => {
  test('bad names, a missing handler function and an unknown default are refused', async () => {
    await assert.rejects(Thrift.serveMultiplexed({ 'a:b': [EchoService, echoHandler] }), /without ':'/);
    await assert.rejects(Thrift.serveMultiplexed({ '': [EchoService, echoHandler] }), /non-empty/);
    await assert.rejects(Thrift.serveMultiplexed({}), /at least one service/);
    await assert.rejects(Thrift.serveMultiplexed({ Echo: [EchoService, {} as typeof echoHandler] }), /no function 'echo'/);
    await assert.rejects(Thrift.serveMultiplexed({ Echo: [EchoService, echoHandler] }, { defaultService: 'Other' }), /defaultService 'Other'/);
    assert.throws(() => Thrift.newClient(EchoService, 'tcp://127.0.0.1:1', { serviceName: 'a:b' }), /serviceName/);
  });
});

// Compiles only if each entry's handler is checked against its own service (never called).
export function typeChecks(): void {
  void Thrift.serveMultiplexed({ Echo: [EchoService, echoHandler] });
  // @ts-expect-error the handler lacks echo
  void Thrift.serveMultiplexed({ Echo: [EchoService, { ping: () => 'x' }] });
  // @ts-expect-error echo returns the wrong type
  void Thrift.serveMultiplexed({ Ok: [EchoService, echoHandler], Bad: [EchoService, { echo: () => 42 }] });
}
