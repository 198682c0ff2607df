import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../src/core/errors.js';
import {
  encodeEvent,
  EventReader,
  eventDecoder,
  idKey,
  MessageIds,
  packReply,
  packRequest,
  ReplyHeads,
  writeReplyBody,
  writeReplyHead,
  writeRequest,
  type EventHeader,
} from '../../src/protocols/zerorpc/events.js';
import { makeUnpacker, pack, PackReader, PackWriter } from '../../src/protocols/zerorpc/msgpack.js';
import { fromNotation, loadConversations } from './vectors.js';

const decode = eventDecoder();

/** Deep equality that tells Buffer from string and bigint from number. */
function same(actual: unknown, expected: unknown, path = '$'): void {
  if (expected instanceof Uint8Array) {
    assert.ok(actual instanceof Uint8Array, `${path}: expected bin, got ${typeof actual}`);
    assert.equal(Buffer.from(actual).toString('hex'), Buffer.from(expected).toString('hex'), path);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected array`);
    assert.equal(actual.length, expected.length, `${path}: length`);
    for (let i = 0; i < expected.length; i++) same((actual as unknown[])[i], expected[i], `${path}[${i}]`);
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual), `${path}: expected map`);
    assert.deepEqual(Object.keys(actual as object), Object.keys(expected), `${path}: keys`);
    for (const k of Object.keys(expected)) same((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${path}.${k}`);
    return;
  }
  assert.equal(typeof actual, typeof expected, `${path}: type`);
  assert.equal(actual, expected, path);
}

for (const file of ['python-server.json', 'python-client.json'] as const) {
  describe(`codec against zerorpc-python's recorded traffic (${file})`, () => {
    for (const conv of loadConversations(file)) {
      it(conv.scenario, () => {
        assert.ok(conv.frames.length > 0);
        for (const frame of conv.frames) {
          const bytes = Buffer.from(frame.payload_hex, 'hex');
          const [header, name, args] = fromNotation(frame.decoded) as [EventHeader, string, unknown];
          // Decoding: the values the recording says, bin apart from str, big ints exact.
          const ev = decode(bytes);
          same(ev.header, header, `${conv.scenario} header`);
          assert.equal(ev.name, name);
          same(ev.args, args, `${conv.scenario} args`);
          // Encoding: the very bytes zerorpc-python sent, from the recording's values.
          assert.equal(Buffer.from(encodeEvent(header, name, args)).toString('hex'), frame.payload_hex, `${conv.scenario}: ${name} re-encoded`);
        }
      });
    }
  });
}

describe('msgpack values', () => {
  const unpack = makeUnpacker();
  it('64-bit integers: numbers when safe, BigInt beyond, never floats', () => {
    assert.equal(Buffer.from(pack(2 ** 40)).toString('hex'), 'cf0000010000000000');
    assert.equal(unpack(pack(2 ** 40)), 2 ** 40);
    assert.equal(unpack(pack(-(2 ** 40))), -(2 ** 40));
    assert.equal(unpack(pack(18446744073709551615n)), 18446744073709551615n);
    assert.equal(unpack(pack(-9223372036854775808n)), -9223372036854775808n);
    assert.equal(Buffer.from(pack(1.5)).toString('hex'), 'cb3ff8000000000000');
  });
  it('str and bin apart; undefined is nil', () => {
    assert.equal(Buffer.from(pack('ab')).toString('hex'), 'a26162');
    assert.equal(Buffer.from(pack(Buffer.from('ab'))).toString('hex'), 'c4026162');
    assert.equal(Buffer.from(pack(undefined)).toString('hex'), 'c0');
    assert.equal(Buffer.from(pack([undefined])).toString('hex'), '91c0');
  });
  it('maps with integer keys are accepted', () => {
    assert.deepEqual(unpack(Buffer.from('810102', 'hex')), { 1: 2 });
  });
  it('safe BigInts in their smallest form, as Python sends them', () => {
    assert.equal(Buffer.from(pack(5n)).toString('hex'), '05');
    assert.equal(Buffer.from(pack(-33n)).toString('hex'), 'd0df');
    assert.throws(() => pack(1n << 64n), RangeError);
  });
  it('strings: every header size, UTF-8 beyond ASCII, short and long', () => {
    for (const s of ['', 'é', 'x'.repeat(31), 'x'.repeat(32), `${'é'.repeat(20)}`, 'ü'.repeat(200), '€'.repeat(30_000)]) {
      const bytes = Buffer.from(pack(s));
      const n = Buffer.byteLength(s);
      const head = n < 32 ? 0xa0 | n : n < 256 ? 0xd9 : n < 65536 ? 0xda : 0xdb;
      assert.equal(bytes[0], head, `header of ${s.slice(0, 4)}… (${n} bytes)`);
      assert.equal(unpack(bytes), s);
    }
  });
  it('timestamps and nested values round-trip; a JavaScript Map is a str-keyed map', () => {
    const d = new Date(1_700_000_000_123);
    assert.deepEqual(unpack(pack({ d, a: [1, [2, [3]]], m: { x: null } })), { d, a: [1, [2, [3]]], m: { x: null } });
    assert.deepEqual(
      unpack(
        pack(
          new Map<unknown, unknown>([
            [1, 'a'],
            ['b', 2],
          ]),
        ),
      ),
      { 1: 'a', b: 2 },
    );
  });
  it('plain objects: own enumerable keys only, whatever Object.prototype has; a getter that deletes keys gives a true count', () => {
    assert.equal(Buffer.from(pack({ a: 1, b: 'x' })).toString('hex'), '82a16101a162a178');
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
      get len(): number {
        return 0;
      }
    }
    assert.equal(Buffer.from(pack(new Point(1, 2))).toString('hex'), '82a17801a17902');
    const proto = Object.prototype as Record<string, unknown>;
    proto['polluted'] = 1;
    try {
      assert.equal(Buffer.from(pack({ a: 1 })).toString('hex'), '81a16101');
    } finally {
      delete proto['polluted'];
    }
    const o: Record<string, unknown> = {
      get a() {
        delete o['b'];
        return 1;
      },
      b: 2,
    };
    // One pass over the keys: the header counts what was written, so the map never lies.
    assert.equal(Buffer.from(pack(o)).toString('hex'), '81a16101');
    // 16 keys and more: the entries move on for the 3-byte header.
    for (const n of [15, 16, 17, 300, 70_000]) {
      const big = Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
      const bytes = Buffer.from(pack(big));
      assert.equal(bytes[0], n < 16 ? 0x80 | n : n < 0x10000 ? 0xde : 0xdf, `header of ${n} keys`);
      assert.deepEqual(makeUnpacker()(bytes), big);
      assert.deepEqual(makeUnpacker()(pack({ inner: big, after: 'x' })), { inner: big, after: 'x' });
    }
  });

  it('maps decoded by a remembered key order give the same objects as key by key', () => {
    // One reader (as a session has): the first map of each shape is learned, later ones are checked against it.
    const read = makeUnpacker();
    const shapes: Record<string, unknown>[] = [
      { id: 42, name: 'Ada', tags: ['a', 'b'], score: 1.5 },
      { id: 7, name: 'Bob', tags: [], score: -1 },
      { id: 1, name: 'x' }, // same first key, fewer entries
      { id: 2, nom: 'y', tags: null, score: 0 }, // same first key and count, another second key
      { id: 3, name: { id: 4, name: 'nested' }, tags: [{ id: 5 }], score: 2 },
      { a: 1, '0': 'integer-like', b: 2 },
    ];
    for (let round = 0; round < 20; round++) {
      for (const o of shapes) assert.deepEqual(read(pack(o)), o);
      // Alternating shapes in one slot: the map always comes out right, whoever holds the slot.
      assert.deepEqual(read(pack(round % 2 === 0 ? { id: round, name: 'n' } : { id: round, next: 'm' })), round % 2 === 0 ? { id: round, name: 'n' } : { id: round, next: 'm' });
    }
    // A slot's shape replaced after a run of misses: every map right before, during and after.
    for (let i = 0; i < 12; i++) assert.deepEqual(read(pack({ id: i, other: [i] })), { id: i, other: [i] });
    assert.deepEqual(read(pack({ id: 1, name: 'back' })), { id: 1, name: 'back' });
    // Duplicate keys: the last value wins, one property, as before.
    assert.deepEqual(read(Buffer.from('82a16101a16102', 'hex')), { a: 2 });
    assert.deepEqual(read(Buffer.from('82a16101a16102', 'hex')), { a: 2 });
    // A learned shape, then __proto__ where its second key was: still refused.
    read(Buffer.from('82a16101a16202', 'hex'));
    assert.throws(() => read(Buffer.from('82a16101a95f5f70726f746f5f5f02', 'hex')), ProtocolError);
    // A learned shape, then the same keys cut short: truncated, not a half-made object.
    assert.throws(() => read(Buffer.from('82a16101a162', 'hex')), ProtocolError);
    // Integer keys beside str keys are not learned, and still come out as before.
    for (let i = 0; i < 3; i++) assert.deepEqual(read(Buffer.from('82a1610101a162', 'hex')), { a: 1, 1: 'b' });
  });

  it('a map whose keys differ from the remembered order is not read twice (nested misses stay linear)', { timeout: 10_000 }, () => {
    const r = new PackReader();
    let reads = 0;
    const read = r.value.bind(r);
    r.value = (depth?: number) => {
      reads++;
      return read(depth);
    };
    const once = (bytes: Uint8Array): unknown => {
      r.reset(bytes);
      const v = r.value();
      r.done();
      return v;
    };
    once(pack({ a: 1, b: 2 })); // the shape (a, b) is learned
    // 60 levels, each map in the same slot (2 entries, first key 'a'), every other one ending in
    // another key: a reader that went back to a map's start on a miss decoded the rest again at
    // every level, 2^30 times as much as needed.
    let v: unknown = 0;
    for (let d = 0; d < 60; d++) v = d % 2 === 0 ? { a: v, c: d } : { a: v, b: d };
    const bytes = pack(v);
    reads = 0;
    assert.deepEqual(once(bytes), v);
    assert.ok(reads <= 3 * 121, `${reads} value reads for 121 values`);
  });

  it('refuses __proto__ keys, trailing bytes, nesting deeper than 512, cycles', () => {
    assert.throws(() => unpack(Buffer.from('81a95f5f70726f746f5f5f01', 'hex')), ProtocolError);
    assert.throws(() => unpack(Buffer.from('0101', 'hex')), ProtocolError);
    assert.throws(() => unpack(Buffer.concat([Buffer.alloc(600, 0x91), Buffer.from([0xc0])])), ProtocolError);
    assert.deepEqual(unpack(Buffer.concat([Buffer.alloc(500, 0x91), Buffer.from([0xc0])])) !== undefined, true);
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    assert.throws(() => pack(cyclic), RangeError);
    assert.throws(() => pack(() => 1), TypeError);
  });
});

describe('hostile events', () => {
  const bad = (hex: string, why: RegExp) =>
    assert.throws(
      () => decode(Buffer.from(hex, 'hex')),
      (e: unknown) => e instanceof ProtocolError && why.test(e.message),
    );
  it('an array claiming 2^32-1 elements fails before allocating', () => bad('ddffffffff00', /claims 4294967295 elements/));
  it('a map claiming 2^32-1 entries fails', () => bad('93dfffffffff', /claims 4294967295 entries/));
  it('a str longer than the message fails', () => bad('93dbffffffff61', /msgpack/));
  it('truncated, not an array, too short, bad header, bad name', () => {
    bad('93', /msgpack/);
    bad('a3616263', /array \[header, name, args\]/);
    bad('9280a0', /array \[header, name, args\]/);
    bad('93a0a0c0', /header is not a map/);
    bad('9381a176039090', /message_id/);
    bad(Buffer.from(pack([{ message_id: 'x' }, 5, []])).toString('hex'), /name is not a str/);
    bad(Buffer.from(pack([{ message_id: 'x', response_to: 5 }, 'OK', []])).toString('hex'), /response_to/);
    bad(Buffer.from(pack([{ message_id: 'x', v: 'three' }, 'OK', []])).toString('hex'), /v is not/);
  });
  it('garbage bytes', () => bad('c1c1c1c1', /msgpack/));
  it("the client's reply reading refuses the same events with the same errors", () => {
    const ids = new MessageIds();
    const reader = new EventReader();
    const cases = ['ddffffffff00', '93dfffffffff', '93dbffffffff61', '93', 'a3616263', '9280a0', '93a0a0c0', '9381a176039090', 'c1c1c1c1'].map((h) => Buffer.from(h, 'hex'));
    const id = ids.next();
    // Our common header, then something wrong after it: a bad name, a truncated or trailing tail.
    const good = Buffer.from(encodeEvent({ message_id: id, v: 3, response_to: id }, 'OK', [1]));
    cases.push(Buffer.from(pack([{ message_id: id, v: 3, response_to: id }, 5, []])), good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.from([0xc0])]));
    cases.push(Buffer.from(pack([{ message_id: id, v: 'three', response_to: id }, 'OK', []])), Buffer.from(pack([{ message_id: 7, v: 3, response_to: id }, 'OK', []])));
    for (const bytes of cases) {
      let expected: Error | undefined;
      try {
        decode(bytes);
      } catch (err) {
        expected = err as Error;
      }
      assert.ok(expected instanceof ProtocolError, bytes.toString('hex'));
      assert.throws(
        () => reader.reply(bytes, 0, bytes.length, ids),
        (e: unknown) => e instanceof ProtocolError && e.message === expected.message,
        bytes.toString('hex'),
      );
    }
  });
});

describe('reading events in place', () => {
  const ids = new MessageIds();
  const other = new MessageIds();
  const reader = new EventReader();
  /** `bytes` inside a larger buffer, read at its offset. */
  const inside = (bytes: Uint8Array): [Buffer, number, number] => [Buffer.concat([Buffer.from('xyz'), bytes, Buffer.from('pq')]), 3, 3 + bytes.length];

  it('a reply to one of our ids is read without its ids, and as the full reading reads it', () => {
    const mine = ids.next();
    const seq = ids.seqOf(mine);
    const item = { id: 42, name: 'Ada', tags: ['a', 'b'], blob: Buffer.from([1, 2]) };
    const replies: [Uint8Array, number][] = [
      [Buffer.from(packReply(other, mine, 'OK', [item]).buf.subarray(0, packReply(other, mine, 'OK', [item]).length)), seq],
      [encodeEvent({ message_id: 'a str id', v: 3, response_to: mine }, 'STREAM', 7), seq],
      [encodeEvent({ message_id: Buffer.alloc(300, 1), v: 3, response_to: mine }, 'ERR', ['E', 'm', 't']), seq],
      [Buffer.from(pack([{ message_id: other.next(), v: 3, response_to: mine }, '_zpc_hb', [0], 'extra', { x: 1 }])), seq],
      // Not the common header, or not our id: read in full.
      [encodeEvent({ message_id: other.next(), v: 3, response_to: mine, trace_id: Buffer.from('t') }, 'OK', [1]), seq],
      [encodeEvent({ message_id: other.next(), v: 3, response_to: other.next() }, 'OK', [1]), -1],
      [encodeEvent({ message_id: other.next(), v: 3, response_to: mine.toString('latin1') }, 'OK', [1]), -1],
      [encodeEvent({ message_id: other.next(), v: 3 }, 'OK', [1]), -1],
      [Buffer.from(pack([{ message_id: other.next(), v: 3, response_to: null }, 'OK', [1]])), -1],
      [encodeEvent({ message_id: other.next() }, 'OK', [1]), -1],
    ];
    for (const [bytes, want] of replies) {
      const full = decode(bytes);
      const r = reader.reply(...inside(bytes), ids);
      assert.equal(r.seq, want, Buffer.from(bytes).toString('hex'));
      assert.equal(r.name, full.name);
      // An OK's `[result]` may come as the result itself, said by `result`.
      same(r.result ? [r.args] : r.args, full.args);
    }
    // Ours, OK [item]: the item itself, no array made; the full reading's shapes keep theirs.
    const r = reader.reply(...inside(replies[0]![0]), ids);
    assert.equal(r.result, true);
    same(r.args, item);
    assert.equal(reader.reply(...inside(replies[4]![0]), ids).result, false);
  });

  it('a reply to one of our ids makes no Buffer view (each costs ~70 ns)', () => {
    const mine = ids.next();
    const p = packReply(other, mine, 'OK', [{ id: 1, name: 'x' }]);
    const [buf, start, end] = inside(p.buf.subarray(0, p.length));
    reader.reply(buf, start, end, ids); // the map keys and the name enter the reader's cache
    const subarray = Buffer.prototype.subarray;
    let views = 0;
    Buffer.prototype.subarray = function (this: Buffer, ...a: [number?, number?]) {
      views++;
      return subarray.apply(this, a);
    };
    try {
      assert.equal(reader.reply(buf, start, end, ids).seq, ids.seqOf(mine));
      assert.equal(views, 0);
      reader.event(buf, start, end); // the full reading makes its two ids
      assert.equal(views, 2);
    } finally {
      Buffer.prototype.subarray = subarray;
    }
  });

  it("the server's reading: a request with the common header comes without a header object, the id left in place", () => {
    const id = other.next();
    const p = packRequest(other, other.seqOf(id), 'add', [1, 2]);
    const [buf, start, end] = inside(p.buf.subarray(0, p.length));
    const ev = reader.request(buf, start, end);
    assert.equal(ev.header, undefined);
    assert.deepEqual(buf.subarray(ev.idAt, ev.idAt + 32), id);
    assert.equal(ev.name, 'add');
    assert.deepEqual(ev.args, [1, 2, undefined]);
    // Any other shape: the full reading, header and all (same names, args and errors).
    const others = [
      encodeEvent({ message_id: 'str id', v: 3 }, 'add', [1]),
      encodeEvent({ message_id: Buffer.alloc(16, 7), v: 3 }, 'add', [1]),
      encodeEvent({ message_id: id, v: 3, trace_id: Buffer.from('t') }, 'add', [1]),
      encodeEvent({ message_id: id, v: 3, response_to: ids.next() }, '_zpc_hb', [0]),
      encodeEvent({ message_id: id }, 'add', 5),
    ];
    for (const bytes of others) {
      const full = reader.event(bytes, 0, bytes.length, true);
      const got = reader.request(...inside(bytes));
      assert.equal(got.idAt, -1);
      same(got.header, full.header);
      assert.equal(got.name, full.name);
      same(got.args, full.args);
    }
    const good = Buffer.from(p.buf.subarray(0, p.length));
    const bad = [
      good.subarray(0, good.length - 1),
      Buffer.concat([good, Buffer.from([0xc0])]),
      Buffer.from(pack([{ message_id: id, v: 'x' }, 'add', []])),
      Buffer.from(pack([{ message_id: id, v: 3 }, 7, []])),
    ];
    for (const bytes of bad) {
      let expected: Error | undefined;
      try {
        reader.event(bytes);
      } catch (err) {
        expected = err as Error;
      }
      assert.ok(expected instanceof ProtocolError);
      assert.throws(
        () => reader.request(bytes, 0, bytes.length),
        (e: unknown) => e instanceof ProtocolError && e.message === expected.message,
      );
    }
  });

  it("a request's args get a last slot for the request context; replies and control events do not", () => {
    const p = packRequest(ids, ids.take(), 'add', [1, 2]);
    const req = reader.event(...inside(p.buf.subarray(0, p.length)), true);
    assert.deepEqual(req.args, [1, 2, undefined]);
    assert.equal((req.args as unknown[]).length, 3);
    const hb = reader.event(...inside(encodeEvent({ message_id: ids.next(), v: 3, response_to: ids.next() }, '_zpc_more', [100])), true);
    assert.deepEqual(hb.args, [100]);
    assert.equal(reader.event(...inside(encodeEvent({ message_id: ids.next(), v: 3 }, 'f', 5)), true).args, 5);
  });
});

describe('message ids', () => {
  it('32 hex digits as bin, a counter then a fixed random part, unique', () => {
    const ids = new MessageIds();
    const a = ids.next();
    const b = ids.next();
    assert.match(a.toString('latin1'), /^[0-9a-f]{32}$/);
    assert.equal(a.toString('latin1').slice(0, 8), '00000000');
    assert.equal(b.toString('latin1').slice(0, 8), '00000001');
    assert.equal(a.subarray(8).toString(), b.subarray(8).toString());
    assert.notEqual(new MessageIds().next().subarray(8).toString(), a.subarray(8).toString());
  });
  it('requests and replies written from header templates are the bytes a full encode gives', () => {
    const ids = new MessageIds();
    const peer = new MessageIds();
    const peerTail = peer.next().subarray(8);
    const heads = new ReplyHeads(ids, peerTail);
    for (const seq of [0, 1, 0xabcdef, 0xffff_ffff]) {
      // A request: the id is counter `seq` with our tail, then v, the name, the args.
      const w = new PackWriter();
      writeRequest(w, ids, seq, 'echo', [{ a: 1 }]);
      const id = Buffer.allocUnsafe(32);
      ids.write(seq, id, 0);
      assert.equal(w.view().toString('hex'), encodeEvent({ message_id: id, v: 3 }, 'echo', [{ a: 1 }]).toString('hex'));
      // A reply to the peer's channel `seq`: the same bytes as the full encode but for our fresh
      // id's counter (digits at 15..22, after the array, map and 'message_id' headers and c4 20).
      const slow = new PackWriter();
      writeReplyHead(slow, ids, seq, peerTail);
      writeReplyBody(slow, 'OK', ['x']);
      const fast = new PackWriter();
      writeReplyHead(fast, ids, seq, peerTail, heads);
      writeReplyBody(fast, 'OK', ['x']);
      const a = Buffer.from(slow.view());
      const b = Buffer.from(fast.view());
      assert.equal(ids.seqOf(b.subarray(15, 47)), ids.seqOf(a.subarray(15, 47)) + 1);
      const reply = eventDecoder()(b);
      assert.equal(Buffer.from(reply.header.response_to as Uint8Array).toString('latin1'), `${seq.toString(16).padStart(8, '0')}${peerTail.toString('latin1')}`);
      a.fill(0, 15, 23);
      b.fill(0, 15, 23);
      assert.equal(b.toString('hex'), a.toString('hex'));
    }
  });
  it('str and bin ids are different channels', () => {
    assert.notEqual(idKey('abc'), idKey(Buffer.from('abc')));
    assert.equal(idKey(Buffer.from('abc')), idKey(new Uint8Array([97, 98, 99])));
  });
});
