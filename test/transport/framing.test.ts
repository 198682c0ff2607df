import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferReader } from '../../src/core/bytes.js';
import { FrameTooLargeError, ProtocolError } from '../../src/core/errors.js';
import { LengthPrefixedDecoder, MeasuredDecoder, type FrameSink, type MessageMeasurer } from '../../src/transport/framing.js';

function prefixed(...payloads: string[]): Buffer {
  return Buffer.concat(
    payloads.map((p) => {
      const b = Buffer.from(p);
      const h = Buffer.alloc(4);
      h.writeUInt32BE(b.length);
      return Buffer.concat([h, b]);
    }),
  );
}

/** Toy unframed protocol: u8 length, then that many bytes. Measures with a BufferReader like Thrift does. */
const reader = new BufferReader(Buffer.alloc(0));
const measureU8: MessageMeasurer = (buf, start, end) => {
  reader.buf = buf;
  reader.pos = start;
  reader.end = end;
  reader.skip(reader.readU8()); // throws BufferUnderflow when incomplete
  return reader.pos - start;
};

function u8framed(...payloads: string[]): Buffer {
  return Buffer.concat(payloads.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])));
}

class Collect implements FrameSink {
  messages: Buffer[] = [];
  deliver(m: Buffer): void {
    this.messages.push(m);
  }
  strings(): string[] {
    return this.messages.map((m) => m.toString());
  }
}

const PAYLOADS = ['', 'a', 'hello world', 'x'.repeat(300), 'end'];

test('length-prefixed: frames split at every byte boundary, and byte by byte', () => {
  const wire = prefixed(...PAYLOADS);
  for (let cut = 0; cut <= wire.length; cut++) {
    const sink = new Collect();
    const d = new LengthPrefixedDecoder(sink, 1024, 'peer');
    d.push(wire.subarray(0, cut));
    d.push(wire.subarray(cut));
    assert.deepEqual(sink.strings(), PAYLOADS, `cut at ${cut}`);
    assert.equal(d.pendingBytes, 0);
  }
  const sink = new Collect();
  const d = new LengthPrefixedDecoder(sink, 1024, 'peer');
  for (let i = 0; i < wire.length; i++) d.push(wire.subarray(i, i + 1));
  assert.deepEqual(sink.strings(), PAYLOADS);
});

test('length-prefixed: many frames in one chunk are views of it (no copy); a frame over chunks is one concat', () => {
  const wire = prefixed(...PAYLOADS);
  const sink = new Collect();
  new LengthPrefixedDecoder(sink, 1024, 'peer').push(wire);
  assert.deepEqual(sink.strings(), PAYLOADS);
  for (const m of sink.messages) assert.equal(m.buffer, wire.buffer, 'a view of the chunk');

  // Delivered messages stay intact while later chunks arrive (nothing is reused).
  const kept = new Collect();
  const d = new LengthPrefixedDecoder(kept, 1024, 'peer');
  const big = prefixed('y'.repeat(1000), 'tail');
  d.push(big.subarray(0, 10));
  d.push(big.subarray(10, 600));
  d.push(big.subarray(600));
  d.push(prefixed('again'));
  assert.deepEqual(kept.strings(), ['y'.repeat(1000), 'tail', 'again']);
});

test('length-prefixed: a frame over chunks joins only its own bytes; the frames after it stay views', () => {
  const big = 'z'.repeat(5000);
  const wire = prefixed(big, 'next', 'and next', 'partial-one');
  const cut1 = 1000;
  const cut2 = wire.length - 4; // the last chunk ends in the middle of 'partial-one'
  const chunks = [wire.subarray(0, cut1), Buffer.from(wire.subarray(cut1, cut2)), Buffer.from(wire.subarray(cut2))];
  const sink = new Collect();
  const d = new LengthPrefixedDecoder(sink, 1 << 20, 'peer');
  d.push(chunks[0]!);
  d.push(chunks[1]!);
  assert.deepEqual(sink.strings(), [big, 'next', 'and next']);
  // The big frame's copy holds that frame only (prefix included), not the frames after it.
  assert.equal(sink.messages[0]!.buffer.byteLength, 5004);
  assert.equal(sink.messages[1]!.buffer, chunks[1]!.buffer, "'next' is a view of the chunk it came in");
  assert.equal(sink.messages[2]!.buffer, chunks[1]!.buffer);
  assert.equal(d.pendingBytes, chunks[1]!.length - (5004 - cut1) - 8 - 12);
  d.push(chunks[2]!);
  assert.deepEqual(sink.strings(), [big, 'next', 'and next', 'partial-one']);
  assert.equal(d.pendingBytes, 0);

  // Several whole frames buffered over many small chunks, delivered in one push.
  const many = prefixed('a', 'bb', 'ccc', 'x'.repeat(100));
  const out = new Collect();
  const d2 = new LengthPrefixedDecoder(out, 1024, 'peer');
  for (let i = 0; i < many.length; i += 3) d2.push(many.subarray(i, i + 3));
  assert.deepEqual(out.strings(), ['a', 'bb', 'ccc', 'x'.repeat(100)]);
  assert.equal(d2.pendingBytes, 0);
});

test('length-prefixed: paused with several chunks held, frames resume in order as ranges of their chunk', () => {
  // A sink that pauses after every `every` frames (as a connection's read split does), and records ranges.
  class Pausing implements FrameSink {
    got: string[] = [];
    bufs: Buffer[] = [];
    d!: LengthPrefixedDecoder;
    constructor(private readonly every: number) {}
    deliver(m: Buffer): void {
      this.deliverAt(m, 0, m.length);
    }
    deliverAt(buf: Buffer, start: number, end: number): void {
      this.got.push(buf.toString('latin1', start, end));
      this.bufs.push(buf);
      if (this.got.length % this.every === 0) this.d.paused = true;
    }
  }
  const payloads = Array.from({ length: 40 }, (_, i) => `m${i}-${'q'.repeat(i % 7)}`);
  const wire = prefixed(...payloads);
  for (const every of [1, 3, 50]) {
    for (const cuts of [[17, 90], [5, 6, 7, 200], [wire.length - 3]]) {
      const sink = new Pausing(every);
      const d = new LengthPrefixedDecoder(sink, 1024, 'peer');
      sink.d = d;
      let from = 0;
      const chunks: Buffer[] = [];
      for (const c of [...cuts, wire.length]) {
        chunks.push(Buffer.from(wire.subarray(from, c)));
        from = c;
      }
      // Every chunk arrives while the sink may be paused; each resume delivers until the next pause.
      for (const c of chunks) d.push(c);
      let resumes = 0;
      while (d.pendingBytes > 0 && resumes++ < 1000) {
        d.paused = false;
        d.drain();
      }
      assert.deepEqual(sink.got, payloads, `every ${every}, cuts ${cuts.join(',')}`);
      assert.equal(d.pendingBytes, 0);
      // Frames that lay inside one chunk came as ranges of that chunk, not as copies.
      const inside = sink.bufs.filter((b) => chunks.some((c) => c.buffer === b.buffer)).length;
      assert.ok(inside >= payloads.length - chunks.length, `${inside} of ${payloads.length} frames were ranges of a chunk`);
    }
  }
});

test('length-prefixed: limit is inclusive; an oversized prefix fails before its body arrives', () => {
  const sink = new Collect();
  new LengthPrefixedDecoder(sink, 8, 'peer').push(prefixed('12345678'));
  assert.deepEqual(sink.strings(), ['12345678']);

  const d = new LengthPrefixedDecoder(new Collect(), 8, 'h:1');
  assert.throws(
    () => d.push(Buffer.from([0, 0, 0, 9])),
    (e: unknown) => e instanceof FrameTooLargeError && e.size === 9 && e.limit === 8 && e.endpoint === 'h:1',
  );
  // Prefix split over chunks is checked too.
  const d2 = new LengthPrefixedDecoder(new Collect(), 8, 'h:1');
  d2.push(Buffer.from([0xff, 0xff]));
  assert.throws(
    () => d2.push(Buffer.from([0xff, 0xff])),
    (e: unknown) => e instanceof FrameTooLargeError && e.size === 0xffffffff,
  );
});

test('length-prefixed: an oversized prefix straddling held chunks is named from its first bytes', () => {
  // One good frame, then an HTTP request cut over three chunks, all arriving while delivery is paused.
  const sink = new Collect();
  const d = new LengthPrefixedDecoder(sink, 1024, 'h:1');
  d.paused = true;
  const http = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  d.push(prefixed('ok'));
  d.push(http.subarray(0, 2));
  d.push(http.subarray(2, 5));
  d.push(Buffer.concat([http.subarray(5), Buffer.alloc(64 * 1024)]));
  d.paused = false;
  assert.throws(
    () => d.drain(),
    (e: unknown) => e instanceof FrameTooLargeError && e.size === http.readUInt32BE(0) && /the peer sent HTTP/.test(e.message),
  );
  assert.deepEqual(sink.strings(), ['ok']);
});

test('length-prefixed: pause stops delivery within a chunk; drain resumes it', () => {
  const sink = new Collect();
  const d = new LengthPrefixedDecoder(
    {
      deliver(m) {
        sink.deliver(m);
        if (sink.messages.length === 2) d.paused = true;
      },
    },
    1024,
    'peer',
  );
  d.push(prefixed(...PAYLOADS));
  assert.equal(sink.messages.length, 2);
  d.push(prefixed('more'));
  assert.equal(sink.messages.length, 2, 'still paused');
  d.paused = false;
  d.drain();
  assert.deepEqual(sink.strings(), [...PAYLOADS, 'more']);
  assert.equal(d.pendingBytes, 0);
});

/** A clock that never moves: measures are never put off, whatever a stall of this machine makes them seem to cost. */
const stillClock = (): number => 0;

test('measured: messages split at every byte boundary, and byte by byte (BufferUnderflow = need more)', () => {
  const wire = u8framed(...PAYLOADS.filter((p) => p.length < 256 && p.length > 0));
  const expected = PAYLOADS.filter((p) => p.length < 256 && p.length > 0);
  for (let cut = 0; cut <= wire.length; cut++) {
    const sink = new Collect();
    const d = new MeasuredDecoder(measureU8, sink, 1024, 'peer', stillClock);
    d.push(wire.subarray(0, cut));
    d.push(wire.subarray(cut));
    assert.deepEqual(
      sink.strings().map((s) => s.slice(1)),
      expected,
      `cut at ${cut}`,
    );
    assert.equal(d.pendingBytes, 0);
  }
  const sink = new Collect();
  const d = new MeasuredDecoder(measureU8, sink, 1024, 'peer', stillClock);
  for (let i = 0; i < wire.length; i++) d.push(wire.subarray(i, i + 1));
  assert.deepEqual(
    sink.strings().map((s) => s.slice(1)),
    expected,
  );
  // Kept messages were not overwritten by later accumulation.
  d.push(u8framed('zzzzzzzz'));
  assert.deepEqual(
    sink.strings().map((s) => s.slice(1)),
    [...expected, 'zzzzzzzz'],
  );
});

test('measured: measures once per arriving chunk, not per byte held', () => {
  let calls = 0;
  const counting: MessageMeasurer = (b, s, e) => {
    calls++;
    return measureU8(b, s, e);
  };
  // A stall of this machine (GC, a busy neighbour) must not count as 2 ms of measuring and put
  // measures off: it did once in CI (6 measures for 10 chunks).
  const d = new MeasuredDecoder(counting, new Collect(), 1024, 'peer', stillClock);
  const wire = u8framed('z'.repeat(200));
  for (let i = 0; i < 10; i++) d.push(wire.subarray(i * 20, i * 20 + 20));
  assert.equal(calls, 10);
  d.push(wire.subarray(200));
  assert.equal(calls, 11, 'the last chunk completes the message: one more measure, none for an empty tail');
});

test('measured: too many bytes without a complete message, measurer errors', () => {
  const d = new MeasuredDecoder(() => -1, new Collect(), 16, 'h:2');
  d.push(Buffer.alloc(16));
  assert.throws(
    () => d.push(Buffer.alloc(1)),
    (e: unknown) => e instanceof FrameTooLargeError && e.size === 17 && e.endpoint === 'h:2',
  );

  const bad = new MeasuredDecoder(
    () => {
      throw new ProtocolError('bad type byte');
    },
    new Collect(),
    16,
    'h:2',
  );
  assert.throws(() => bad.push(Buffer.alloc(3)), /bad type byte/);

  const buggy = new MeasuredDecoder(
    () => {
      throw new TypeError('oops');
    },
    new Collect(),
    16,
    'h:2',
  );
  assert.throws(
    () => buggy.push(Buffer.alloc(3)),
    (e: unknown) => e instanceof ProtocolError && e.cause instanceof TypeError,
  );

  const liar = new MeasuredDecoder(() => 5, new Collect(), 16, 'h:2');
  assert.throws(() => liar.push(Buffer.alloc(3)), ProtocolError);
});

/** u32-length messages, found by a measurer that costs `ms` per call (a big message of small elements). */
function costly(ms: number): { measure: MessageMeasurer; calls: () => number } {
  let calls = 0;
  const r = new BufferReader(Buffer.alloc(0));
  return {
    calls: () => calls,
    measure: (buf, start, end) => {
      calls++;
      const until = performance.now() + ms;
      while (performance.now() < until);
      r.buf = buf;
      r.pos = start;
      r.end = end;
      r.skip(r.readU32());
      return r.pos - start;
    },
  };
}

test('measured: once measuring a partial message has cost 2 ms, it is measured again only when it has doubled', () => {
  const m = costly(0.5);
  const sink = new Collect();
  const d = new MeasuredDecoder(m.measure, sink, 1 << 20, 'peer');
  const wire = prefixed('z'.repeat(99_996)); // 100,000 bytes in 1000 chunks
  for (let i = 0; i < 999; i++) d.push(wire.subarray(i * 100, i * 100 + 100));
  // Eager: about 4 measures (0.5 ms each); then at ~2×, 4×, ... of the size measured last: a handful, not 999.
  assert.ok(m.calls() <= 20, `${m.calls()} measures for 999 chunks`);
  assert.equal(sink.messages.length, 0);
  assert.ok(d.drainAfterMs >= 1, 'a measure was put off: the owner is told when to look again');

  // Quiet measures that find the message incomplete double the wait: after four, at least
  // 2^4 × 4 × one measure (≥ 0.5 ms). Compared with that floor, not with the first wait: on a
  // loaded machine a preempted measure made the first wait 30 ms and the last 32 ms.
  for (let i = 0; i < 4; i++) d.drain();
  d.push(Buffer.alloc(0));
  assert.ok(d.drainAfterMs >= 2 ** 4 * 4 * 0.5, `${d.drainAfterMs} ms after four quiet measures`);

  d.push(wire.subarray(99_900)); // the last chunk does not double it either
  assert.equal(sink.messages.length, 0);
  d.drain(); // the stream went quiet
  assert.equal(sink.messages.length, 1);
  assert.equal(sink.messages[0]!.length, 100_000);
  assert.equal(d.drainAfterMs, -1);
  assert.equal(d.pendingBytes, 0);

  // The next message starts eager again.
  const before = m.calls();
  const next = prefixed('next');
  d.push(next.subarray(0, 3));
  d.push(next.subarray(3));
  assert.equal(m.calls() - before, 2);
  assert.deepEqual(sink.strings().slice(1), [String(next)]);
});

test('measured: a put-off measure never lets the buffer pass maxFrameSize unchecked', () => {
  const m = costly(1);
  const d = new MeasuredDecoder(m.measure, new Collect(), 10_000, 'h:3');
  const wire = prefixed('q'.repeat(20_000));
  assert.throws(
    () => {
      for (let i = 0; i < 200; i++) d.push(wire.subarray(i * 100, i * 100 + 100));
    },
    (e: unknown) => e instanceof FrameTooLargeError && e.size > 10_000 && e.size <= 10_100,
  );
});
