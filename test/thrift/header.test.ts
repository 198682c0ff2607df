// THeader on our own client and server: a deadline and a trace id crossing a plain-Thrift hop, the
// zlib transform, and hostile THeader messages (limits, truncation, garbage): the server never
// crashes, and answers or closes at once.
import assert from 'node:assert/strict';
import net from 'node:net';
import { deflateSync, inflateSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { BufferReader, BufferWriter } from '../../src/core/bytes.js';
import {
  binaryProtocol,
  compactProtocol,
  createContextKey,
  HeaderLimitError,
  MessageType,
  receivedValue,
  Thrift,
  ThriftHeaders,
  type ThriftServer,
  withContextValue,
} from '../../src/protocols/thrift/index.js';
import type { ServerCallContext } from '../../src/protocols/thrift/index.js';
import { EchoService } from '../fixtures/echo-service.js';

const TraceKey = createContextKey<string | undefined>('test.trace', undefined, {
  name: 'test-trace',
  encode: (v) => Buffer.from(v ?? '', 'utf8'),
  decode: (b) => b.toString('utf8'),
});

describe('a deadline and a trace id cross a plain-Thrift hop over THeader', () => {
  let back: ThriftServer;
  let front: ThriftServer;
  let toBack: ReturnType<typeof Thrift.newClient<typeof EchoService extends { __types?: { client: infer C } } ? C : never>>;
  before(async () => {
    back = await Thrift.serve(
      EchoService,
      {
        echo: (id: bigint, _d: number, _p: string, ctx: ServerCallContext) => ({
          id,
          payload: JSON.stringify({
            header: receivedValue(ctx, ThriftHeaders)?.get('x-request-id'),
            key: receivedValue(ctx, TraceKey),
            left: ctx.deadline === undefined ? null : ctx.deadline - Date.now(),
          }),
        }),
      },
      { contextKeys: [TraceKey], onError: false },
    );
    toBack = Thrift.newClient(EchoService, `tcp://127.0.0.1:${back.port}`, { transport: 'header' });
    // The middle hop is a plain (buffered, compact) server: THeader is detected per message.
    front = await Thrift.serve(
      EchoService,
      { echo: (id: bigint, d: number, p: string) => toBack.echo(id, d, p) },
      { contextKeys: [TraceKey], transport: 'buffered', protocol: 'compact', onError: false },
    );
  });
  after(async () => {
    await toBack.$close();
    await front.close();
    await back.close();
  });

  test('headers and typed keys are forwarded, and the deadline only shrinks', async () => {
    const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${front.port}`, { transport: 'header', protocol: 'compact' });
    try {
      const reply = await withContextValue(ThriftHeaders, new Map([['x-request-id', 'req-1']]), () => withContextValue(TraceKey, 'trace-9', () => client.echo(1n, 0, '', { timeout: 2000 })));
      const got = JSON.parse(reply.payload) as { header?: string; key?: string; left: number | null };
      assert.equal(got.header, 'req-1');
      assert.equal(got.key, 'trace-9');
      assert.ok(got.left !== null && got.left > 0 && got.left <= 2000, `time left at the back: ${got.left}`);
    } finally {
      await client.$close();
    }
  });

  test('client_timeout: whole positive ms only; 0, garbage and huge text are ignored', async () => {
    const left = async (value: string): Promise<number | null> => {
      const got = await exchange(back.port, headerFrame(echoCall(), { info: kvBlock([['client_timeout', value]]) }));
      return (JSON.parse(parseReply(got.data).payload) as { left: number | null }).left;
    };
    const ok = await left('1500');
    assert.ok(ok !== null && ok > 0 && ok <= 1500, `1500 -> ${ok}`);
    for (const bad of ['0', '', ' 5', '0x10', '-5', '1e3', 'abc', '9'.repeat(40)]) assert.equal(await left(bad), null, `'${bad.slice(0, 20)}' is no deadline`);
  });

  test('a plain framed client carries none of it (and still works against the same servers)', async () => {
    const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${back.port}`);
    try {
      const got = JSON.parse((await client.echo(2n, 0, '', { timeout: 2000 })).payload) as { header?: string; left: number | null };
      assert.equal(got.header, undefined);
      assert.equal(got.left, null);
    } finally {
      await client.$close();
    }
  });
});

// ---------------------------------------------------------------- raw THeader messages

interface RawHead {
  protocolId?: number;
  transforms?: number[];
  /** Raw info block bytes (after the protocol id and transforms), padded by the helper. */
  info?: Buffer;
  /** Header words to claim instead of the real length. */
  claimWords?: number;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

function kvBlock(pairs: [string, string][]): Buffer {
  const parts = [varint(1), varint(pairs.length)];
  for (const [k, v] of pairs) parts.push(varint(Buffer.byteLength(k)), Buffer.from(k), varint(Buffer.byteLength(v)), Buffer.from(v));
  return Buffer.concat(parts);
}

/** A framed THeader message carrying `payload`. */
function headerFrame(payload: Buffer, h: RawHead = {}): Buffer {
  const transforms = h.transforms ?? [];
  let header = Buffer.concat([varint(h.protocolId ?? 0), varint(transforms.length), ...transforms.map(varint), h.info ?? Buffer.alloc(0)]);
  header = Buffer.concat([header, Buffer.alloc((4 - (header.length % 4)) % 4)]);
  const fixed = Buffer.alloc(14);
  fixed.writeUInt32BE(10 + header.length + payload.length, 0);
  fixed.writeUInt16BE(0x0fff, 4);
  fixed.writeUInt16BE(0, 6);
  fixed.writeInt32BE(5, 8);
  fixed.writeUInt16BE(h.claimWords ?? header.length / 4, 12);
  return Buffer.concat([fixed, header, payload]);
}

/** `echo(id, 0, payload)` as a binary CALL message. */
function echoCall(payload = 'hi', seqid = 5): Buffer {
  const p = binaryProtocol();
  const w = new BufferWriter(64);
  p.writeMessageHeader(w, 'echo', MessageType.CALL, seqid);
  p.writeStruct(w, EchoService.methods['echo']!.args, { id: 3n, delayMs: 0, payload });
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** Sends `bytes`, resolves with what came back before the server closed (or `waitMs` passed). */
function exchange(port: number, bytes: Buffer | Buffer[], waitMs = 3000): Promise<{ data: Buffer; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), closed, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    sock.on('data', (c) => {
      chunks.push(c);
      const all = Buffer.concat(chunks);
      if (all.length >= 4 && all.length >= 4 + all.readUInt32BE(0)) finish(false);
    });
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
    const parts = Array.isArray(bytes) ? bytes : [bytes];
    let i = 0;
    const next = (): void => {
      if (i < parts.length && !sock.destroyed) {
        sock.write(parts[i++]!);
        setTimeout(next, 20);
      }
    };
    sock.on('connect', next);
  });
}

/** Parses a THeader reply frame: its transforms, and the Thrift message inside (name, type). */
function parseReply(data: Buffer): { transforms: number; name: string; type: number; payload: string } {
  assert.ok(data.length >= 14, `a reply frame (${data.length} bytes)`);
  assert.equal(data.readUInt16BE(4), 0x0fff, 'THeader magic in the reply');
  const headerEnd = 14 + data.readUInt16BE(12) * 4;
  const transforms = data[15]!;
  let body = data.subarray(headerEnd, 4 + data.readUInt32BE(0));
  if (transforms > 0) body = inflateSync(body);
  const p = data[14] === 2 ? compactProtocol() : binaryProtocol();
  const r = new BufferReader(body);
  const h = p.readMessageHeader(r);
  const result = h.type === MessageType.REPLY ? (p.readStruct(r, EchoService.methods['echo']!.result) as { success?: { payload: string } }) : undefined;
  return { transforms, name: h.name, type: h.type, payload: result?.success?.payload ?? '' };
}

for (const transport of ['framed', 'buffered'] as const) {
  describe(`hostile THeader messages (${transport} server)`, () => {
    let server: ThriftServer;
    const errors: unknown[] = [];
    before(async () => {
      server = await Thrift.serve(
        EchoService,
        { echo: (id: bigint, _d: number, payload: string) => ({ id, payload }) },
        {
          transport,
          maxFrameSize: 1 << 20,
          headerLimits: { maxHeaders: 8, maxHeaderBytes: 1024, maxInflatedBytes: 64 * 1024 },
          onError: (err) => errors.push(err),
        },
      );
    });
    after(() => server.close());

    const closesAtOnce = async (what: string, bytes: Buffer | Buffer[], errorType?: new (...a: never[]) => Error): Promise<void> => {
      errors.length = 0;
      const got = await exchange(server.port, bytes);
      assert.ok(got.closed, `${what}: closed (got ${got.data.length} bytes)`);
      assert.ok(got.ms < 2000, `${what}: at once (${Math.round(got.ms)} ms)`);
      if (errorType !== undefined) {
        await new Promise((r) => setTimeout(r, 20));
        assert.ok(
          errors.some((e) => e instanceof errorType || (e as { cause?: unknown }).cause instanceof errorType),
          `${what}: reported as ${errorType.name}: ${errors.map(String).join('; ')}`,
        );
      }
    };

    test('a valid message is answered, in the THeader format', async () => {
      const got = await exchange(server.port, headerFrame(echoCall('ok'), { info: kvBlock([['k', 'v']]) }));
      const reply = parseReply(got.data);
      assert.equal(reply.type, MessageType.REPLY);
      assert.equal(reply.payload, 'ok');
    });

    test('split into small writes it is still answered', async () => {
      const f = headerFrame(echoCall('split'));
      const got = await exchange(server.port, [f.subarray(0, 3), f.subarray(3, 7), f.subarray(7, 20), f.subarray(20)]);
      assert.equal(parseReply(got.data).payload, 'split');
    });

    test('zlib in, zlib out', async () => {
      const call = echoCall('z'.repeat(1000));
      const got = await exchange(server.port, headerFrame(deflateSync(call), { transforms: [1] }));
      const reply = parseReply(got.data);
      assert.equal(reply.transforms, 1);
      assert.equal(reply.payload, 'z'.repeat(1000));
    });

    test('more info headers than maxHeaders', () =>
      closesAtOnce(
        'count',
        headerFrame(echoCall(), {
          info: kvBlock(Array.from({ length: 9 }, (_, i): [string, string] => [`k${i}`, 'v'])),
        }),
        HeaderLimitError,
      ));

    test('a header count claiming billions', () => closesAtOnce('claimed count', headerFrame(echoCall(), { info: Buffer.concat([varint(1), varint(0xffffffff)]) }), HeaderLimitError));

    test('keys and values over maxHeaderBytes', () => closesAtOnce('bytes', headerFrame(echoCall(), { info: kvBlock([['big', 'x'.repeat(2000)]]) }), HeaderLimitError));

    test('a zlib payload inflating past maxInflatedBytes', () => closesAtOnce('zlib bomb', headerFrame(deflateSync(Buffer.alloc(1 << 20)), { transforms: [1] }), HeaderLimitError));

    test('a header longer than its frame', () => closesAtOnce('claimed words', headerFrame(echoCall(), { claimWords: 5000 })));

    test('a string running past the header', () => closesAtOnce('string', headerFrame(echoCall(), { info: Buffer.concat([varint(1), varint(1), varint(500), Buffer.from('k')]) })));

    test('an unknown transform, an unknown protocol id, no payload', async () => {
      await closesAtOnce('transform', headerFrame(echoCall(), { transforms: [3] }));
      await closesAtOnce('protocol', headerFrame(echoCall(), { protocolId: 1 }));
      await closesAtOnce('no payload', headerFrame(Buffer.alloc(0)));
    });

    test('a frame that ends inside the fixed part', () => {
      const f = Buffer.from([0, 0, 0, 4, 0x0f, 0xff, 0, 0]);
      return closesAtOnce('short', f);
    });

    test('a length over maxFrameSize is refused before its bytes arrive', () => {
      const f = Buffer.from([0x7f, 0xff, 0xff, 0xff, 0x0f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]);
      return closesAtOnce('huge length', f);
    });

    test('200 random messages behind the magic: no crash, each answered or closed', async () => {
      let seed = 12345;
      const rnd = (): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed;
      };
      for (let i = 0; i < 200; i++) {
        const body = Buffer.alloc(10 + (rnd() % 120));
        for (let j = 0; j < body.length; j++) body[j] = rnd() & 0xff;
        body.writeUInt16BE(0x0fff, 0);
        if (i % 2 === 0) body.writeUInt16BE(1 + (rnd() % 6), 8); // small plausible header lengths half the time
        const frame = Buffer.concat([Buffer.alloc(4), body]);
        frame.writeUInt32BE(body.length, 0);
        const got = await exchange(server.port, frame, 2000);
        assert.ok(got.closed || got.data.length > 0, `message ${i}: answered or closed, not left waiting`);
      }
      const after = await exchange(server.port, headerFrame(echoCall('still here')));
      assert.equal(parseReply(after.data).payload, 'still here');
    });
  });
}

describe('THeader options', () => {
  test('headerLimits are checked', async () => {
    await assert.rejects(Thrift.serve(EchoService, { echo: () => ({ id: 0n, payload: '' }) }, { headerLimits: { maxHeaders: -1 } }), /headerLimits.maxHeaders/);
    assert.throws(() => Thrift.newClient(EchoService, 'tcp://127.0.0.1:1', { transport: 'header', headerLimits: { nope: 1 } as never }), /unknown headerLimits key/);
  });
});

describe('THeader detection never takes a plain message for one', () => {
  test('a compact call whose seqid and name length put 0F FF at offset 4 (buffered server)', async () => {
    const server = await Thrift.serve(EchoService, { echo: (id: bigint, _d: number, payload: string) => ({ id, payload }) }, { transport: 'buffered', protocol: 'compact', onError: false });
    try {
      const p = compactProtocol();
      const w = new BufferWriter(512);
      const seqid = 0x0f << 14; // varint 80 80 0F
      p.writeMessageHeader(w, 'x'.repeat(255), MessageType.CALL, seqid); // name length varint FF 01
      w.writeU8(0); // empty args
      const call = Buffer.from(w.buf.subarray(0, w.pos));
      assert.deepEqual([...call.subarray(4, 6)], [0x0f, 0xff]);
      const got = await exchange(server.port, call, 1500);
      assert.ok(got.data.length > 0, 'answered (an unknown method), not closed as a bad THeader message');
      const h = p.readMessageHeader(new BufferReader(got.data));
      assert.equal(h.type, MessageType.EXCEPTION);
      assert.equal(h.seqid, seqid);
    } finally {
      await server.close();
    }
  });
});

describe('a THeader client against hostile replies', () => {
  /** A server that answers every frame with `reply(seqid)`. */
  async function rawServer(reply: (seqid: number) => Buffer): Promise<net.Server> {
    const srv = net.createServer((sock) => {
      let buf = Buffer.alloc(0);
      sock.on('data', (c) => {
        buf = Buffer.concat([buf, c]);
        while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
          const seqid = buf.readInt32BE(8); // the THeader seqid
          buf = buf.subarray(4 + buf.readUInt32BE(0));
          sock.write(reply(seqid));
        }
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return srv;
  }

  const replyMessage = (seqid: number): Buffer => {
    const p = binaryProtocol();
    const w = new BufferWriter(64);
    p.writeMessageHeader(w, 'echo', MessageType.REPLY, seqid);
    p.writeStruct(w, EchoService.methods['echo']!.result, { success: { id: 1n, payload: 'x' } });
    return Buffer.from(w.buf.subarray(0, w.pos));
  };

  for (const [what, make] of [
    ['too many info headers', (s: number) => headerFrame(replyMessage(s), { info: kvBlock(Array.from({ length: 100 }, (_, i): [string, string] => [`k${i}`, 'v'])) })],
    ['another protocol than the call', (s: number) => headerFrame(replyMessage(s), { protocolId: 2 })],
    ['a header longer than its frame', (s: number) => headerFrame(replyMessage(s), { claimWords: 900 })],
  ] as const) {
    test(`${what}: the call fails at once, the connection closed as a violation`, async () => {
      const srv = await rawServer(make);
      const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, { transport: 'header', timeout: 5000, retries: false } as never);
      try {
        const t0 = performance.now();
        await assert.rejects(client.echo(1n, 0, 'x'), /bad THeader reply/);
        assert.ok(performance.now() - t0 < 3000);
      } finally {
        await client.$close();
        srv.close();
      }
    });
  }

  test('a valid THeader reply is read (and a plain framed one too)', async () => {
    for (const make of [(s: number) => headerFrame(replyMessage(s)), (s: number) => Buffer.concat([Buffer.from([0, 0, 0, replyMessage(s).length]), replyMessage(s)])]) {
      const srv = await rawServer(make);
      const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, { transport: 'header', timeout: 5000 });
      try {
        assert.deepEqual(await client.echo(1n, 0, 'x'), { id: 1n, payload: 'x' });
      } finally {
        await client.$close();
        srv.close();
      }
    }
  });
});
