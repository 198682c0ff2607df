// Finagle's TTwitter upgrade on our servers (the ThriftMux port's plain-Thrift side, and the plain
// Thrift server, which share the Thrift codec): raw sockets writing the exact bytes a Finagle
// plain-Thrift client writes (ttwitter-bytes.ts, built by hand from tracing.thrift), and reading
// back the exact bytes Finagle's server answers.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ProtocolError } from '../../src/core/errors.js';
import { ForwardedContexts, MuxClientId, MuxRetries, MuxTrace, receivedValue, ThriftMux, type ServerCallContext, type TraceId } from '../../src/protocols/thriftmux/index.js';
import { Thrift } from '../../src/protocols/thrift/index.js';
import { CLIENT_ID_CONTEXT, RETRIES_CONTEXT, TRACE_CONTEXT, DEADLINE_CONTEXT } from '../../src/protocols/mux/contexts.js';
import { TTwitterHeaderError } from '../../src/protocols/thrift/ttwitter.js';
import { EchoService, echoHandler, type EchoHandler } from '../fixtures/echo-service.js';
import { connectRaw, frameOf } from '../mux/raw-peer.js';
import {
  closedWithin,
  deadlineContext,
  echoCall,
  echoReply,
  field,
  framed,
  i32,
  i64,
  messageHead,
  requestHeader,
  STOP,
  str,
  upgradeCall,
  upgradeReply,
  type Header,
  UPGRADE,
} from './ttwitter-bytes.js';
import { until } from '../harness/wait.js';

interface View {
  payload: string;
  deadline: number | undefined;
  trace: TraceId | undefined;
  clientId: string | undefined;
  retries: number;
  forwarded: string[];
}

function recordingHandler(seen: View[]): EchoHandler {
  return {
    echo(id, delayMs, payload, ctx: ServerCallContext) {
      const fwd = receivedValue(ctx, ForwardedContexts) ?? [];
      seen.push({
        payload,
        deadline: ctx.deadline,
        trace: receivedValue(ctx, MuxTrace),
        clientId: receivedValue(ctx, MuxClientId),
        retries: receivedValue(ctx, MuxRetries),
        forwarded: fwd.map(([k, v]) => `${k.toString()}=${v.toString()}`),
      });
      return echoHandler.echo(id, delayMs, payload, ctx);
    },
  };
}

/** The cause chain has a TTwitterHeaderError (the session wraps it in a ProtocolError naming the peer). */
function isHeaderError(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof TTwitterHeaderError) return true;
  return false;
}

const byId = (v: View[], payload: string): View => {
  const found = v.find((x) => x.payload === payload);
  assert.ok(found, `the handler saw '${payload}'`);
  return found;
};

// What a Finagle client sets: ids (span -2 checks the unsigned reading), sampled, a client id,
// the debug flag, Deadline / Retries / an unknown context, a dtab entry, a 128-bit trace id.
const TRACE_ID = 0x1122334455667788n;
const SPAN_ID = -2n;
const PARENT_ID = 0x0102030405060708n;
const HIGH = 0x0a0bn;

function fullHeader(deadlineMs: number): Header {
  return {
    traceId: TRACE_ID,
    spanId: SPAN_ID,
    parentSpanId: PARENT_ID,
    sampled: true,
    clientId: 'finagle-web',
    flags: 1n,
    contexts: [
      [DEADLINE_CONTEXT, deadlineContext(Date.now(), deadlineMs)],
      [RETRIES_CONTEXT, i32(2)],
      ['com.example.Custom', Buffer.from('opaque')],
    ],
    delegations: [['/s', '/$/inet/127.0.0.1/1']],
    traceIdHigh: HIGH,
  };
}

const EXPECTED_TRACE: TraceId = { traceId: TRACE_ID, spanId: 0xfffffffffffffffen, parentId: PARENT_ID, flags: 1n | 2n | 4n, traceIdHigh: HIGH };

type Serve = (handler: EchoHandler, onError: (e: unknown) => void) => Promise<{ port: number; close(): Promise<void> }>;
const SERVERS: [string, Serve][] = [
  ['ThriftMux server (plain Thrift side)', (h, onError) => ThriftMux.serve(EchoService, h, { onError })],
  ['plain Thrift server', (h, onError) => Thrift.serve(EchoService, h, { onError })],
  // Plain names reach the default service; the upgrade name is nobody's method.
  ['multiplexed Thrift server (default service)', (h, onError) => Thrift.serveMultiplexed({ Echo: [EchoService, h] }, { defaultService: 'Echo', onError })],
];

for (const [label, serve] of SERVERS) {
  describe(`TTwitter upgrade: ${label}`, () => {
    const seen: View[] = [];
    const errors: unknown[] = [];
    let server: { port: number; close(): Promise<void> };
    before(async () => {
      server = await serve(recordingHandler(seen), (e) => errors.push(e));
    });
    after(() => server.close());

    test('upgrade answered REPLY (same name and seqid, empty struct); then a header each way; the handler sees what Mux would give it', async () => {
      const { socket, reader } = await connectRaw(server.port);
      socket.write(framed(upgradeCall(0)));
      assert.deepEqual(await reader.next(), upgradeReply(0));
      const deadline = Date.now() + 5000;
      socket.write(framed(Buffer.concat([requestHeader(fullHeader(deadline)), echoCall(0, 5n, 0, 'traced')])));
      // An empty ResponseHeader (one STOP byte, as Finagle's server writes it), then the REPLY.
      assert.deepEqual(await reader.next(), Buffer.concat([STOP, echoReply(0, 5n, 'traced')]));
      const v = byId(seen, 'traced');
      assert.deepEqual(v.trace, EXPECTED_TRACE);
      assert.equal(v.clientId, 'finagle-web');
      assert.equal(v.retries, 2);
      // The server keeps it relative to when the bytes were read (server/context.ts): a few ms early at most.
      assert.ok(v.deadline !== undefined && Math.abs(v.deadline - deadline) < 50, `deadline ${v.deadline} vs ${deadline}`);
      assert.deepEqual(v.forwarded, ['com.example.Custom=opaque']);
      socket.destroy();
    });

    test('a minimal header (ids only, no parent, sampling unknown) and a TraceContext that overrides the ids; client_id wins over ClientIdContext', async () => {
      const { socket, reader } = await connectRaw(server.port);
      socket.write(framed(upgradeCall(7)));
      assert.deepEqual(await reader.next(), upgradeReply(7), 'the seqid is echoed');
      socket.write(framed(Buffer.concat([requestHeader({ traceId: 9n, spanId: 10n }), echoCall(1, 1n, 0, 'minimal')])));
      assert.deepEqual(await reader.next(), Buffer.concat([STOP, echoReply(1, 1n, 'minimal')]));
      assert.deepEqual(byId(seen, 'minimal').trace, { traceId: 9n, spanId: 10n, parentId: 10n, flags: 0n });
      assert.equal(byId(seen, 'minimal').deadline, undefined);
      const tc = Buffer.concat([i64(31n), i64(30n), i64(29n), i64(6n)]); // span parent trace flags
      const h = { traceId: 9n, spanId: 10n, clientId: 'from-header', contexts: [[TRACE_CONTEXT, tc] as const, [CLIENT_ID_CONTEXT, Buffer.from('from-context')] as const] };
      socket.write(framed(Buffer.concat([requestHeader(h), echoCall(2, 2n, 0, 'override')])));
      assert.deepEqual(await reader.next(), Buffer.concat([STOP, echoReply(2, 2n, 'override')]));
      assert.deepEqual(byId(seen, 'override').trace, { spanId: 31n, parentId: 30n, traceId: 29n, flags: 6n });
      assert.equal(byId(seen, 'override').clientId, 'from-header');
      socket.destroy();
    });

    test('a connection that never upgrades stays plain, beside an upgraded one', async () => {
      const up = await connectRaw(server.port);
      up.socket.write(framed(upgradeCall(0)));
      assert.deepEqual(await up.reader.next(), upgradeReply(0));
      const plain = await connectRaw(server.port);
      plain.socket.write(framed(echoCall(3, 3n, 0, 'plain')));
      assert.deepEqual(await plain.reader.next(), echoReply(3, 3n, 'plain'), 'no ResponseHeader on a plain connection');
      up.socket.write(framed(Buffer.concat([requestHeader({ traceId: 1n, spanId: 1n }), echoCall(4, 4n, 0, 'upgraded')])));
      assert.deepEqual(await up.reader.next(), Buffer.concat([STOP, echoReply(4, 4n, 'upgraded')]));
      plain.socket.write(framed(echoCall(5, 5n, 0, 'plain again')));
      assert.deepEqual(await plain.reader.next(), echoReply(5, 5n, 'plain again'));
      assert.equal(byId(seen, 'plain').trace, undefined);
      up.socket.destroy();
      plain.socket.destroy();
    });

    test('an unknown method on an upgraded connection: UNKNOWN_METHOD behind a ResponseHeader; oneway-free upgrade sent again with a header is answered again', async () => {
      const { socket, reader } = await connectRaw(server.port);
      socket.write(framed(upgradeCall(0)));
      assert.deepEqual(await reader.next(), upgradeReply(0));
      socket.write(framed(Buffer.concat([requestHeader({ traceId: 1n, spanId: 1n }), echoCall(6, 1n, 0, 'x', 'nope')])));
      const unknown = (await reader.next())!;
      assert.equal(unknown[0], 0, 'ResponseHeader first');
      assert.deepEqual(unknown.subarray(1, 1 + 4 + 4 + 4 + 4), Buffer.concat([messageHead('nope', 3, 6)]), 'then EXCEPTION nope, seqid 6');
      // TApplicationException { 1: message, 2: type = 1 UNKNOWN_METHOD }
      assert.ok(unknown.includes(Buffer.concat([field(8, 2), i32(1)])), 'type UNKNOWN_METHOD');
      socket.write(framed(Buffer.concat([requestHeader({ traceId: 1n, spanId: 1n }), upgradeCall(8)])));
      assert.deepEqual(await reader.next(), Buffer.concat([STOP, upgradeReply(8)]), 'a second upgrade (with its header) is acknowledged again');
      socket.write(framed(Buffer.concat([requestHeader({ traceId: 1n, spanId: 1n }), echoCall(9, 9n, 0, 'still upgraded')])));
      assert.deepEqual(await reader.next(), Buffer.concat([STOP, echoReply(9, 9n, 'still upgraded')]));
      socket.destroy();
    });

    describe('hostile', () => {
      /** Upgrades a raw connection, sends `bytes` framed, expects the server to close it with a typed error. */
      async function expectClosed(bytes: Buffer, what: string): Promise<void> {
        const before = errors.length;
        const { socket, reader } = await connectRaw(server.port);
        socket.write(framed(upgradeCall(0)));
        assert.deepEqual(await reader.next(), upgradeReply(0));
        socket.write(bytes);
        assert.ok(await closedWithin(socket, 3000), `${what}: the connection is closed`);
        socket.destroy();
        await until(`${what}: the error reported`, () => errors.length > before, 2000);
        const err = errors.at(-1);
        assert.ok(err instanceof ProtocolError && isHeaderError(err), `${what}: a TTwitterHeaderError, got ${String(err)}`);
        // Only that connection: another one is served.
        const other = await connectRaw(server.port);
        other.socket.write(framed(echoCall(1, 1n, 0, `after ${what}`)));
        assert.deepEqual(await other.reader.next(), echoReply(1, 1n, `after ${what}`));
        other.socket.destroy();
      }

      test('a malformed header: a field claiming a 2 GiB string', () => expectClosed(framed(Buffer.concat([field(11, 9), i32(0x7fffffff), Buffer.from('abc')])), 'huge dest'));

      test('a malformed header: truncated (the frame ends inside it)', () => expectClosed(framed(Buffer.concat([field(10, 1), Buffer.from([1, 2, 3])])), 'truncated'));

      test('a header with a context lacking its value', () =>
        expectClosed(framed(Buffer.concat([field(15, 8), Buffer.from([12]), i32(1), field(11, 1), str('k'), STOP, STOP, echoCall(1, 1n, 0, 'x')])), 'no value'));

      test('a bare message (no header) after the upgrade, e.g. the upgrade sent twice as a plain call', () => expectClosed(framed(upgradeCall(1)), 'bare upgrade'));

      test('a huge contexts list: more than maxContexts (256)', () => {
        const contexts = Array.from({ length: 1000 }, (_, i) => [`k${i}`, Buffer.from('v')] as const);
        return expectClosed(framed(Buffer.concat([requestHeader({ traceId: 1n, spanId: 1n, contexts }), echoCall(1, 1n, 0, 'x')])), '1000 contexts');
      });

      test('a huge contexts list: 2^31-1 claimed in a few bytes', () => expectClosed(framed(Buffer.concat([field(15, 8), Buffer.from([12]), i32(0x7fffffff), STOP, STOP])), 'claimed 2^31'));

      test('a huge contexts list: 300,000 empty contexts in one 4.5 MB frame stop at the decode budget', async () => {
        const one = Buffer.concat([field(11, 1), str(''), field(11, 2), str(''), STOP]);
        const n = 300_000;
        const body = Buffer.concat([field(15, 8), Buffer.from([12]), i32(n), Buffer.concat(Array.from({ length: n }, () => one)), STOP, echoCall(1, 1n, 0, 'x')]);
        await expectClosed(framed(body), '300k contexts');
        assert.match(String((errors.at(-1) as Error).message), /budget/);
      });

      test('an upgrade call with a body: its fields are skipped, the connection upgrades', async () => {
        const { socket, reader } = await connectRaw(server.port);
        const body = Buffer.concat([field(8, 1), i32(42), field(11, 2), str('option'), STOP]);
        socket.write(framed(upgradeCall(0, body)));
        assert.deepEqual(await reader.next(), upgradeReply(0));
        socket.write(framed(Buffer.concat([requestHeader({ traceId: 1n, spanId: 1n }), echoCall(2, 2n, 0, 'after body')])));
        assert.deepEqual(await reader.next(), Buffer.concat([STOP, echoReply(2, 2n, 'after body')]));
        socket.destroy();
      });
    });
  });
}

describe('TTwitter on an unframed (buffered) Thrift server', () => {
  test('is declined with UNKNOWN_METHOD: message boundaries come from parsing messages, which a header would break', async () => {
    const server = await Thrift.serve(EchoService, echoHandler, { transport: 'buffered', onError: false });
    const socket = net.connect(server.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.write(Buffer.concat([upgradeCall(0), echoCall(1, 1n, 0, 'plain')]));
    const head = messageHead(UPGRADE, 3, 0);
    const reply = echoReply(1, 1n, 'plain');
    await until('the reply', () => Buffer.concat(chunks).includes(reply), 2000);
    const got = Buffer.concat(chunks);
    assert.deepEqual(got.subarray(0, head.length), head, 'EXCEPTION __can__finagle__trace__v3__');
    assert.ok(got.includes(Buffer.concat([field(8, 2), i32(1)])), 'UNKNOWN_METHOD');
    assert.deepEqual(got.subarray(got.length - reply.length), reply, 'then the plain call, answered plain');
    socket.destroy();
    await server.close();
  });
});

describe('ttwitter: false on a server', () => {
  for (const kind of ['Thrift', 'ThriftMux'] as const) {
    test(`${kind}: the upgrade is declined with UNKNOWN_METHOD and the connection stays plain`, async () => {
      const server =
        kind === 'Thrift' ? await Thrift.serve(EchoService, echoHandler, { ttwitter: false, onError: false }) : await ThriftMux.serve(EchoService, echoHandler, { ttwitter: false, onError: false });
      const socket = net.connect(server.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.write(Buffer.concat([framed(upgradeCall(0)), framed(echoCall(1, 1n, 0, 'plain'))]));
      const reply = framed(echoReply(1, 1n, 'plain'));
      await until('the reply', () => Buffer.concat(chunks).includes(reply), 2000);
      const got = Buffer.concat(chunks);
      const head = messageHead(UPGRADE, 3, 0);
      assert.deepEqual(got.subarray(4, 4 + head.length), head, 'EXCEPTION __can__finagle__trace__v3__');
      assert.ok(got.includes(Buffer.concat([field(8, 2), i32(1)])), 'UNKNOWN_METHOD');
      assert.deepEqual(got.subarray(got.length - reply.length), reply, 'then the plain call, answered plain (no ResponseHeader)');
      socket.destroy();
      await server.close();
    });
  }
});

describe('TTwitter on the ThriftMux port: as Mux, in order', () => {
  const seen: View[] = [];
  let server: { port: number; close(): Promise<void> };
  before(async () => {
    server = await ThriftMux.serve(EchoService, recordingHandler(seen), { onError: false });
  });
  after(() => server.close());

  test('pipelined TTwitter calls are answered in request order, each behind its ResponseHeader', async () => {
    const { socket, reader } = await connectRaw(server.port);
    socket.write(framed(upgradeCall(0)));
    assert.deepEqual(await reader.next(), upgradeReply(0));
    const h = requestHeader({ traceId: 1n, spanId: 2n });
    // seqid 0 for all, as Finagle's plain clients send them: only the order tells them apart.
    socket.write(
      Buffer.concat([
        framed(Buffer.concat([h, echoCall(0, 1n, 120, 'slow')])),
        framed(Buffer.concat([h, echoCall(0, 2n, 0, 'fast')])),
        framed(Buffer.concat([h, echoCall(0, 3n, 0, 'x', 'nope')])),
        framed(Buffer.concat([h, echoCall(0, 4n, 0, 'last')])),
      ]),
    );
    assert.deepEqual(await reader.next(), Buffer.concat([STOP, echoReply(0, 1n, 'slow')]));
    assert.deepEqual(await reader.next(), Buffer.concat([STOP, echoReply(0, 2n, 'fast')]));
    const unknown = (await reader.next())!;
    assert.deepEqual(unknown.subarray(0, 1 + 12 + 4), Buffer.concat([STOP, messageHead('nope', 3, 0)]));
    assert.deepEqual(await reader.next(), Buffer.concat([STOP, echoReply(0, 4n, 'last')]));
    socket.destroy();
  });

  test('a handler sees the same trace, client id, deadline, retries and contexts from a Mux Tdispatch as from a TTwitter header', async () => {
    const deadline = Date.now() + 4000;
    const tt = await connectRaw(server.port);
    tt.socket.write(framed(upgradeCall(0)));
    assert.deepEqual(await tt.reader.next(), upgradeReply(0));
    tt.socket.write(framed(Buffer.concat([requestHeader(fullHeader(deadline)), echoCall(0, 1n, 0, 'via ttwitter')])));
    await tt.reader.next();
    // The same facts as Mux contexts on a raw Tdispatch (TraceContext with the 128-bit high half).
    const traceContext = Buffer.concat([i64(SPAN_ID), i64(PARENT_ID), i64(TRACE_ID), i64(7n), i64(HIGH)]);
    const mux = await connectRaw(server.port);
    const contexts = [
      [Buffer.from(TRACE_CONTEXT), traceContext],
      [Buffer.from(DEADLINE_CONTEXT), deadlineContext(Date.now(), deadline)],
      [Buffer.from(RETRIES_CONTEXT), i32(2)],
      [Buffer.from(CLIENT_ID_CONTEXT), Buffer.from('finagle-web')],
      [Buffer.from('com.example.Custom'), Buffer.from('opaque')],
    ] as const;
    mux.socket.write(frameOf({ type: 'Tdispatch', tag: 2, contexts, dest: '', dtab: [], body: echoCall(0, 1n, 0, 'via mux') }));
    await mux.reader.next();
    const a = byId(seen, 'via ttwitter');
    const b = byId(seen, 'via mux');
    assert.ok(a.deadline !== undefined && b.deadline !== undefined && Math.abs(a.deadline - b.deadline) < 50, `deadlines ${a.deadline} and ${b.deadline}`);
    assert.deepEqual({ ...a, payload: '', deadline: 0 }, { ...b, payload: '', deadline: 0 });
    tt.socket.destroy();
    mux.socket.destroy();
  });
});
