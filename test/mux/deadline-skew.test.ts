// A caller whose clock runs ahead of the server's: its Deadline context (timestamp, deadline)
// arrives stamped in the server's future. The server moves the deadline back by that much, so
// the call keeps the time its caller gave it — neither refused as expired (a short timeout from
// a clock ahead by more than it) nor left running past what the caller waits. The contexts are
// written by hand on a raw socket: the test fails if the server reads the bytes any other way.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BufferWriter } from '../../src/core/bytes.js';
import { encodeDeadline } from '../../src/protocols/mux/contexts.js';
import { BinaryProtocol } from '../../src/protocols/thrift/binary.js';
import { MessageType } from '../../src/protocols/thrift/index.js';
import { ThriftMux } from '../../src/protocols/thriftmux/index.js';
import type { ThriftMuxServer } from '../../src/protocols/thriftmux/server.js';
import { abortableEcho, EchoService } from '../fixtures/echo-service.js';
import { until } from '../harness/wait.js';
import { connectRaw, type FrameReader, frameOf, rdispatchThrift, tagOf } from './raw-peer.js';

const DEADLINE_KEY = Buffer.from('com.twitter.finagle.Deadline', 'latin1');

/** A Tdispatch of `echo(id, delayMs, payload)` carrying only the Deadline context `(stampedMs, deadlineMs)`. */
function tdispatch(tag: number, stampedMs: number, deadlineMs: number, id: bigint, delayMs: number): Buffer {
  const w = new BufferWriter(128);
  BinaryProtocol.writeMessageHeader(w, 'echo', MessageType.CALL, 0);
  BinaryProtocol.writeStruct(w, EchoService.methods.echo.args, { id, delayMs, payload: `call ${tag}` });
  return frameOf({ type: 'Tdispatch', tag, contexts: [[DEADLINE_KEY, encodeDeadline(stampedMs, deadlineMs)]], dest: '', dtab: [], body: w.takeCopy() });
}

/** The Thrift message type of an Rdispatch OK's reply. */
function replyType(f: Buffer): number {
  return BinaryProtocol.readMessageHeader(rdispatchThrift(f)).type;
}

describe("a caller whose clock runs ahead: the server takes the deadline's stamp into account", () => {
  let server: ThriftMuxServer;
  let socket: net.Socket;
  let reader: FrameReader;
  /** What each handler saw, by id: the deadline it was given as ms from when the call was sent. */
  const seen = new Map<bigint, number | undefined>();
  const aborted: bigint[] = [];
  let sentAt = 0;
  const handler = abortableEcho(
    (id) => aborted.push(id),
    (id, ctx) => {
      const d = ctx.deadline;
      seen.set(id, d === undefined ? undefined : d - sentAt);
    },
  );

  before(async () => {
    server = await ThriftMux.serve(EchoService, handler, { onError: false });
    ({ socket, reader } = await connectRaw(server.port));
  });
  after(async () => {
    socket.destroy();
    await server.close();
  });

  test('a 100 ms timeout from a clock 60 s ahead runs, and its handler sees ~100 ms left', async () => {
    sentAt = Date.now();
    socket.write(tdispatch(2, sentAt + 60_000, sentAt + 60_100, 1n, 0));
    const f = await reader.next();
    assert.ok(f !== undefined, 'the server closed the connection');
    assert.equal(tagOf(f), 2);
    assert.equal(replyType(f), MessageType.REPLY, 'answered, not refused');
    const left = seen.get(1n);
    assert.ok(left !== undefined, 'the handler got a deadline');
    // Counted from arrival (the stamp is taken for it): the trip to the server is added, at most a few ms here.
    assert.ok(left > 0 && left <= 150, `the handler's deadline is ${left} ms after the call was sent (want the caller's 100, not 60,100)`);
  });

  test("a 300 ms timeout from a clock 60 s ahead stops a 20 s handler at the caller's 300 ms", async () => {
    sentAt = Date.now();
    socket.write(tdispatch(3, sentAt + 60_000, sentAt + 60_300, 2n, 20_000));
    const f = await reader.next(10_000);
    const waited = Date.now() - sentAt;
    assert.ok(f !== undefined);
    assert.equal(tagOf(f), 3);
    assert.notEqual(replyType(f), MessageType.REPLY, 'the timed-out call is answered with an error');
    assert.ok(waited >= 250 && waited < 5000, `answered after ${waited} ms (want about 300: the deadline read without its stamp is 60 s away)`);
    await until('the handler saw its signal abort', () => aborted.includes(2n));
  });

  test('a stamp in our past changes nothing: a deadline already gone is refused without running', async () => {
    sentAt = Date.now();
    socket.write(tdispatch(4, sentAt - 10_000, sentAt - 9_900, 3n, 0));
    const f = await reader.next();
    assert.ok(f !== undefined);
    assert.equal(tagOf(f), 4);
    assert.notEqual(replyType(f), MessageType.REPLY, 'refused as expired');
    assert.equal(seen.has(3n), false, 'the handler never ran');
  });

  test('a pair stamped after its own deadline is read as it comes', async () => {
    sentAt = Date.now();
    socket.write(tdispatch(5, sentAt + 60_000, sentAt + 500, 4n, 0));
    const f = await reader.next();
    assert.ok(f !== undefined);
    assert.equal(replyType(f), MessageType.REPLY);
    const left = seen.get(4n);
    // ctx.deadline goes through the monotonic clock and back: within the wall clock's 1 ms steps.
    assert.ok(left !== undefined && left > 400 && left <= 502, `the handler's deadline is ${left} ms after sending (want the 500 written)`);
  });
});
