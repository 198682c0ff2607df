// Golden vectors: Mux frames written out byte by byte from the wire notes (../shared/protocols/mux.md,
// after Finagle's Message.scala) decode to the expected message and re-encode to the same bytes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BufferWriter } from '../../src/core/bytes.js';
import { FrameTooLargeError, ProtocolError } from '../../src/core/errors.js';
import {
  contextNames,
  DEADLINE_NAME,
  decodeDeadline,
  encodeDeadline,
  MAX_DEADLINE_MS,
  MuxClientId,
  MuxRetries,
  MuxTrace,
  RELATIVE_DEADLINE_BELOW_MS,
  writeChildSpanValue,
  writeNs,
} from '../../src/protocols/mux/contexts.js';
import { createContextKey } from '../../src/core/context-key.js';
import { Reassembler } from '../../src/protocols/mux/fragments.js';
import { TINIT_CHECK_MESSAGE } from '../../src/protocols/mux/handshake.js';
import { decodeMessage, encodeMessage, type MuxMessage } from '../../src/protocols/mux/wire.js';

const RELATIVE_DEADLINE_BELOW_MS_NS = BigInt(RELATIVE_DEADLINE_BELOW_MS) * 1_000_000n;
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): string => Buffer.from(s).toString('hex');
/** A whole frame: u32 size, then the message. */
const frame = (body: string): Buffer => {
  const m = hex(body);
  const out = Buffer.alloc(4 + m.length);
  out.writeUInt32BE(m.length, 0);
  m.copy(out, 4);
  return out;
};

function roundTrip(bytes: Buffer): MuxMessage {
  assert.equal(bytes.readUInt32BE(0), bytes.length - 4, 'size counts type + tag + body');
  const msg = decodeMessage(bytes.subarray(4));
  const w = new BufferWriter(16);
  w.writeU32(0);
  encodeMessage(w, msg);
  w.buf.writeUInt32BE(w.pos - 4, 0);
  assert.equal(w.view().toString('hex'), bytes.toString('hex'), `${msg.type} re-encodes to the same bytes`);
  return msg;
}

const TRACE = 'com.twitter.finagle.tracing.TraceContext';
const DEADLINE = 'com.twitter.finagle.Deadline';
const u16 = (n: number): string => n.toString(16).padStart(4, '0');

describe('golden vectors', () => {
  test('the tinit check probe: 00 00 00 0f 7f 00 00 01 "tinit check"', () => {
    const bytes = hex(`0000000f 7f000001 ${ascii('tinit check')}`);
    const m = roundTrip(bytes);
    assert.deepEqual(m, { type: 'Rerr', tag: 1, reason: 'tinit check', legacy: true });
    assert.deepEqual(TINIT_CHECK_MESSAGE, bytes.subarray(4), 'the client sends exactly these bytes');
  });

  test('Tping / Rping on tag 1', () => {
    assert.deepEqual(roundTrip(hex('00000004 41000001')), { type: 'Tping', tag: 1 });
    assert.deepEqual(roundTrip(hex('00000004 bf000001')), { type: 'Rping', tag: 1 });
  });

  test('Tdrain / Rdrain', () => {
    assert.deepEqual(roundTrip(hex('00000004 40000001')), { type: 'Tdrain', tag: 1 });
    assert.deepEqual(roundTrip(hex('00000004 c0000001')), { type: 'Rdrain', tag: 1 });
  });

  test('Rdispatch NACK: status 2, no contexts, empty body', () => {
    const m = roundTrip(hex('00000007 fe000002 02 0000'));
    assert.equal(m.type, 'Rdispatch');
    assert.equal(m.type === 'Rdispatch' && m.status, 2);
    assert.equal(m.type === 'Rdispatch' && m.body.length, 0);
  });

  test('Rdispatch OK with a body; ERROR with text', () => {
    const ok = roundTrip(frame(`fe000005 00 0000 ${ascii('payload')}`));
    assert.equal(ok.type === 'Rdispatch' && ok.body.toString(), 'payload');
    const err = roundTrip(frame(`fe000005 01 0000 ${ascii('boom')}`));
    assert.equal(err.type === 'Rdispatch' && err.status, 1);
  });

  test('Tdispatch with a trace and a deadline context, empty dest and dtab, a Thrift payload', () => {
    const trace = '0000000000000002 0000000000000001 00000000000000aa 0000000000000006';
    const deadline = '18a0c4b2c3d40000 7fffffffffffffff';
    const thrift = `80010001 00000004 ${ascii('echo')} 00000000 00`.replace(/\s/g, ''); // CALL "echo" seqid 0, empty struct
    const body = `0002 ${u16(TRACE.length)} ${ascii(TRACE)} 0020 ${trace} ${u16(DEADLINE.length)} ${ascii(DEADLINE)} 0010 ${deadline} 0000 0000 ${thrift}`;
    const m = roundTrip(frame(`02000002 ${body}`));
    assert.equal(m.type, 'Tdispatch');
    if (m.type !== 'Tdispatch') return;
    assert.equal(m.tag, 2);
    assert.equal(m.contexts.length, 2);
    assert.equal(m.contexts[0]![0].toString(), TRACE);
    const t = MuxTrace.wire!.decode(m.contexts[0]![1])!;
    assert.deepEqual([t.spanId, t.parentId, t.traceId, t.flags], [2n, 1n, 0xaan, 6n]);
    assert.equal(decodeDeadline(m.contexts[1]![1]), undefined, 'Long.MaxValue is "no deadline"');
    assert.equal(m.dest, '');
    assert.deepEqual(m.dtab, []);
    assert.equal(m.body.toString('hex'), thrift);
  });

  test('Tdispatch with a dtab and a destination', () => {
    const m = roundTrip(frame(`02000003 0000 0004 ${ascii('/dst')} 0001 0004 ${ascii('/foo')} 0004 ${ascii('/bar')} 00`));
    assert.equal(m.type === 'Tdispatch' && m.dest, '/dst');
    assert.deepEqual(m.type === 'Tdispatch' && m.dtab, [['/foo', '/bar']]);
  });

  test('Tdiscarded: current 66 and legacy -62; the fragment bit in `which` is masked', () => {
    const cur = roundTrip(frame(`42000000 000007 ${ascii('timeout')}`));
    assert.deepEqual(cur, { type: 'Tdiscarded', tag: 0, which: 7, reason: 'timeout', legacy: false });
    const legacy = roundTrip(frame(`c2000000 000007 ${ascii('timeout')}`));
    assert.deepEqual(legacy, { type: 'Tdiscarded', tag: 0, which: 7, reason: 'timeout', legacy: true });
    const masked = decodeMessage(hex('c2000000 800007'));
    assert.equal(masked.type === 'Tdiscarded' && masked.which, 7);
    assert.deepEqual(roundTrip(hex('00000004 be000007')), { type: 'Rdiscarded', tag: 7 });
  });

  test('Tlease: unit 0 (ms), u64 amount', () => {
    assert.deepEqual(roundTrip(hex('0000000d 43000000 00 00000000000003e8')), { type: 'Tlease', tag: 0, unit: 0, howMuch: 1000n });
  });

  test('Tinit / Rinit: version 1, headers with 4-byte lengths', () => {
    const m = roundTrip(frame(`44000001 0001 0000000a ${ascii('mux-framer')} 00000004 00010000`));
    assert.equal(m.type, 'Tinit');
    if (m.type !== 'Tinit') return;
    assert.equal(m.version, 1);
    assert.equal(m.headers[0]![0].toString(), 'mux-framer');
    assert.equal(m.headers[0]![1].readUInt32BE(0), 65536);
    const r = roundTrip(frame('bc000001 0001'));
    assert.deepEqual(r, { type: 'Rinit', tag: 1, version: 1, headers: [] });
  });

  test('Rerr: current -128 and legacy 127', () => {
    assert.deepEqual(roundTrip(frame(`80000002 ${ascii('bad')}`)), { type: 'Rerr', tag: 2, reason: 'bad', legacy: false });
    assert.deepEqual(roundTrip(frame(`7f000002 ${ascii('bad')}`)), { type: 'Rerr', tag: 2, reason: 'bad', legacy: true });
  });

  test('Treq / Rreq (legacy)', () => {
    const t = roundTrip(frame(`01000002 01 01 03 616263 ${ascii('body')}`));
    assert.equal(t.type === 'Treq' && t.traces.length, 1);
    assert.equal(t.type === 'Treq' && t.body.toString(), 'body');
    assert.deepEqual(roundTrip(frame(`ff000002 00 ${ascii('ok')}`)), { type: 'Rreq', tag: 2, status: 0, body: Buffer.from('ok') });
  });

  test('fragments: the tag MSB marks "more follows"; pieces reassemble per tag, interleaved', () => {
    const piece = roundTrip(frame('02800005 0000'));
    assert.deepEqual(piece, { type: 'Fragment', code: 2, tag: 5, chunk: hex('0000') });
    const r = new Reassembler(1024, 4);
    assert.equal(r.accept(hex('02800005 0000')), undefined);
    assert.equal(r.accept(hex('fe800009 00')), undefined, 'another tag interleaves');
    assert.equal(r.accept(hex('02800005 0000')), undefined);
    const whole = r.accept(hex(`02000005 ${ascii('x')}`))!;
    assert.equal(whole.toString('hex'), `02000005 00000000 ${ascii('x')}`.replace(/\s/g, ''));
    assert.equal(r.pending, 1);
    const other = r.accept(hex('fe000009 0000'))!;
    assert.equal(other.toString('hex'), 'fe000009000000');
    assert.equal(r.pending, 0);
    const ping = hex('41000001');
    assert.equal(r.accept(ping), ping, 'a whole message passes through as it is');
  });
});

describe('contexts', () => {
  test('Deadline: ns since the epoch, both stamps', () => {
    const b = encodeDeadline(1_700_000_000_000, 1_700_000_000_250.5);
    assert.equal(b.readBigInt64BE(0), 1_700_000_000_000_000_000n);
    assert.equal(b.readBigInt64BE(8), 1_700_000_000_250_500_000n);
    assert.equal(decodeDeadline(b), 1_700_000_000_250.5);
  });

  test("Deadline: a value before 2000 is Python Scales' timeout, read from arrival; a past time stays past", () => {
    const stamp = (deadlineNs: bigint): Buffer => {
      const b = Buffer.alloc(16);
      b.writeBigInt64BE(1_764_000_000n * 1_000_000_000n, 0);
      b.writeBigInt64BE(deadlineNs, 8);
      return b;
    };
    const before = Date.now();
    const relative = decodeDeadline(stamp(5_000_000_000n))!; // Scales: Deadline(5) = (now, 5 * 10^9)
    assert.ok(relative >= before + 5000 && relative <= Date.now() + 5000, `5 s from arrival, got ${relative - before} ms`);
    assert.equal(decodeDeadline(stamp(RELATIVE_DEADLINE_BELOW_MS_NS)), RELATIVE_DEADLINE_BELOW_MS, 'from 2000-01-01 on, a time');
    assert.equal(decodeDeadline(stamp(1_000_000_000_000_000_000n)), 1_000_000_000_000, 'a deadline in 2001: long past, and kept so');
    assert.equal(decodeDeadline(stamp(-1_000_000n)), -1, 'negative: past');
  });

  test("Deadline: stamped in our future, the caller's clock runs ahead: the deadline moves back as far", () => {
    const before = Date.now();
    const ahead = decodeDeadline(encodeDeadline(before + 60_000, before + 60_250))!;
    // The ns round-trip through doubles: equal to within a µs.
    assert.ok(ahead >= before + 249.999 && ahead <= Date.now() + 250.001, `250 ms from arrival, got ${ahead - before} ms`);
    assert.ok(Math.abs(decodeDeadline(encodeDeadline(before - 1000, before + 250))! - (before + 250)) < 0.001, 'stamped in our past: as it comes');
    assert.ok(Math.abs(decodeDeadline(encodeDeadline(before + 60_000, before + 30_000))! - (before + 30_000)) < 0.001, 'stamped after its own deadline: as it comes');
  });

  test('Deadline: one past what an i64 of ns holds (April 2262) is sent as none, not wrapped into the past', () => {
    const now = Date.now();
    assert.equal(decodeDeadline(encodeDeadline(now, Number.MAX_SAFE_INTEGER)), undefined);
    assert.equal(decodeDeadline(encodeDeadline(now, MAX_DEADLINE_MS)), undefined);
    const last = decodeDeadline(encodeDeadline(now, MAX_DEADLINE_MS - 1))!;
    assert.ok(Math.abs(last - (MAX_DEADLINE_MS - 1)) < 0.01, `the last one that fits is kept: ${last}`);
  });

  test('Deadline nanoseconds without BigInt match the BigInt computation', () => {
    const b = Buffer.alloc(8);
    for (const ms of [0, 1, 0.5, 999.999999, 1_048_575, 1_048_576, 1_796_000_000_123.25, 2 ** 42 + 0.75, 9_000_000_000_000]) {
      writeNs(b, 0, ms);
      const whole = Math.floor(ms);
      const want = BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
      assert.equal(b.readBigInt64BE(0), want, `${ms} ms`);
    }
    for (let i = 0; i < 10_000; i++) {
      const ms = Math.random() * 4e12;
      writeNs(b, 0, ms);
      const whole = Math.floor(ms);
      assert.equal(b.readBigInt64BE(0), BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6)), `${ms} ms`);
    }
  });

  test('Retries: i32; TraceContext: 32 or 40 bytes', () => {
    assert.equal(MuxRetries.wire!.encode(3).toString('hex'), '00000003');
    assert.equal(MuxRetries.wire!.decode(hex('00000003')), 3);
    const t = { spanId: 1n, parentId: 2n, traceId: 3n, flags: 4n, traceIdHigh: 5n };
    assert.deepEqual(MuxTrace.wire!.decode(MuxTrace.wire!.encode(t)), t);
    assert.throws(() => MuxTrace.wire!.decode(Buffer.alloc(12)), ProtocolError);
  });

  test('TraceContext and Retries read in place (decodeAt) match the BigInt readers, high bits and all', () => {
    const b = Buffer.alloc(3 + 40 + 5);
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < b.length; i++) b[i] = (Math.random() * 256) | 0;
      if (round === 0) b.fill(0xff, 3, 43);
      if (round === 1) b.fill(0x80, 3, 43);
      const want = { spanId: b.readBigUInt64BE(3), parentId: b.readBigUInt64BE(11), traceId: b.readBigUInt64BE(19), flags: b.readBigUInt64BE(27) };
      assert.deepEqual(MuxTrace.wire!.decodeAt!(b, 3, 32), want);
      assert.deepEqual(MuxTrace.wire!.decodeAt!(b, 3, 40), { ...want, traceIdHigh: b.readBigUInt64BE(35) });
      assert.equal(MuxRetries.wire!.decodeAt!(b, 7, 4), b.readInt32BE(7));
    }
    assert.throws(() => MuxTrace.wire!.decodeAt!(b, 0, 33), ProtocolError);
    assert.throws(() => MuxRetries.wire!.decodeAt!(b, 0, 3), ProtocolError);
  });

  test('a child span written in place: u16 length, a fresh span id, the parent span, the trace id and flags (and high bits)', () => {
    const t = { traceId: 0xfedcba9876543210n, spanId: 0x0123456789abcdefn, parentId: 5n, flags: 6n };
    const w = new BufferWriter(8);
    writeChildSpanValue(w, t);
    writeChildSpanValue(w, { ...t, traceIdHigh: 0x8000000000000001n });
    writeChildSpanValue(w, { ...t, traceId: -1n }); // a signed long, as Finagle's ids are
    const b = w.view();
    assert.equal(b.length, 34 + 42 + 34);
    assert.equal(b.readUInt16BE(0), 32);
    const child = MuxTrace.wire!.decode(b.subarray(2, 34))!;
    assert.deepEqual([child.parentId, child.traceId, child.flags], [t.spanId, t.traceId, t.flags]);
    const again = MuxTrace.wire!.decode(b.subarray(36, 76))!;
    assert.equal(b.readUInt16BE(34), 40);
    assert.equal(again.traceIdHigh, 0x8000000000000001n);
    assert.notEqual(child.spanId, again.spanId, 'each child span has its own id');
    assert.equal(MuxTrace.wire!.decode(b.subarray(78))!.traceId, 0xffffffffffffffffn);
  });

  test('context names match on their bytes, ASCII letters in either case, nothing else', () => {
    const Mine = createContextKey<string | undefined>('mine', undefined, { name: 'x-Übung', encode: (v) => Buffer.from(v ?? ''), decode: (b) => b.toString() });
    const names = contextNames([Mine]);
    const find = (s: string, enc: BufferEncoding = 'utf8'): unknown => {
      const b = Buffer.concat([Buffer.from('..'), Buffer.from(s, enc), Buffer.from('..')]);
      return names.find(b, 2, b.length - 4);
    };
    assert.equal(find('com.twitter.finagle.Deadline'), DEADLINE_NAME);
    assert.equal(find('COM.TWITTER.FINAGLE.DEADLINE'), DEADLINE_NAME);
    assert.equal(find('com.twitter.finagle.tracing.TraceContext'), MuxTrace);
    assert.equal(find('Com.Twitter.Finagle.Retries'), MuxRetries);
    assert.equal(find('com.twitter.finagle.thrift.ClientIdContext'), MuxClientId);
    assert.equal(find('x-übung'), Mine, 'a UTF-8 name, its ASCII letters in another case');
    assert.equal(find('X-übung'), Mine);
    assert.equal(find('x-Übung'), undefined, 'only ASCII letters fold: Ü is not ü');
    assert.equal(find('x-übung', 'latin1'), undefined, 'the name is UTF-8 on the wire, not Latin-1');
    assert.equal(find('com.twitter.finagle.Retrie'), undefined, 'a prefix');
    assert.equal(find('com.twitter.finagle.Retriex'), undefined, 'same length, one byte off');
    assert.equal(find('com.twitter.finagle.Retries\u0000'), undefined);
    assert.equal(find(''), undefined);
    assert.equal(find('x'.repeat(5000)), undefined, 'longer than any name');
    const MyRetries = createContextKey<number>('my-retries', 0, { name: 'com.twitter.finagle.retries', encode: () => Buffer.alloc(4), decode: () => 7 });
    const b = Buffer.from('com.twitter.finagle.Retries');
    assert.equal(contextNames([MyRetries]).find(b, 0, b.length), MyRetries, "a server's own key takes a built-in key's name");
  });
});

describe('bounds', () => {
  test('truncated and unknown messages are ProtocolErrors', () => {
    assert.throws(() => decodeMessage(hex('0200')), ProtocolError);
    assert.throws(() => decodeMessage(hex('02000002 0001 0005 6162')), ProtocolError, 'a context longer than the frame');
    assert.throws(() => decodeMessage(hex('11000002')), /unknown mux message type 17/);
    assert.throws(() => decodeMessage(hex('41000001 00')), ProtocolError, 'a Tping with a body');
    assert.throws(() => decodeMessage(hex('41800001')), /cannot be fragmented/);
  });

  test('context and dtab counts are bounded before anything is read', () => {
    assert.throws(() => decodeMessage(hex('02000002 ffff')), /65535 contexts \(limit 256\)/);
    assert.throws(() => decodeMessage(hex('02000002 0000 0000 ffff')), /dtab entries/);
    assert.throws(() => decodeMessage(hex('fe000002 00 0101'), { maxContexts: 16, maxDtab: 1, maxInitHeaders: 1 }), /limit 16/);
  });

  test('reassembly is bounded in bytes and in messages in progress', () => {
    const r = new Reassembler(8, 2);
    r.accept(hex('02800002 00000000'));
    assert.throws(() => r.accept(hex('02800002 0000000000')), FrameTooLargeError);
    const r2 = new Reassembler(1024, 2);
    r2.accept(hex('02800002 00'));
    r2.accept(hex('02800003 00'));
    assert.throws(() => r2.accept(hex('02800004 00')), /more than 2 fragmented/);
    r2.drop(2);
    assert.equal(r2.pending, 1, 'a discarded tag drops its pieces');
  });
});
