import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BufferReader, BufferUnderflow, BufferWriter } from '../../src/core/bytes.js';
import { InvalidArgumentError, ProtocolError } from '../../src/core/errors.js';
import { decodeApplicationException, encodeApplicationException, TApplicationExceptionType, ThriftApplicationError } from '../../src/protocols/thrift/application-exception.js';
import { binaryProtocol } from '../../src/protocols/thrift/binary.js';
import { compactProtocol } from '../../src/protocols/thrift/compact.js';
import { MessageType, T, type StructDesc, type TypeDesc } from '../../src/protocols/thrift/descriptors.js';
import { knownNames, replyName } from '../../src/protocols/thrift/known-names.js';
import type { ThriftProtocol } from '../../src/protocols/thrift/protocol.js';
import { AllTypes, Audit, NotFound, NotFoundDesc, Point, richValue, Shape, Small, smallValue } from './codec-fixtures.js';

const protocols: ThriftProtocol[] = [binaryProtocol(), compactProtocol()];

function encode(p: ThriftProtocol, desc: StructDesc, v: object): Buffer {
  const w = new BufferWriter(16);
  p.writeStruct(w, desc, v);
  return w.takeCopy();
}

function decode(p: ThriftProtocol, desc: StructDesc, b: Buffer): Record<string, unknown> {
  const r = new BufferReader(b);
  const out = p.readStruct(r, desc) as Record<string, unknown>;
  assert.equal(r.pos, b.length, 'decoder consumed exactly the struct');
  return out;
}

const roundTrip = (p: ThriftProtocol, desc: StructDesc, v: object) => decode(p, desc, encode(p, desc, v));

/** One-field wrapper struct around a type. */
function box(type: TypeDesc): StructDesc {
  return { name: 'Box', kind: 'struct', fields: [{ id: 1, name: 'v', type, requiredness: 'default' }] };
}

for (const p of protocols) {
  describe(`${p.name} protocol round trips`, () => {
    it('every type of AllTypes, incl. struct-keyed maps, sets and recursion', () => {
      const v = richValue();
      assert.deepStrictEqual(roundTrip(p, AllTypes, v), v);
    });

    it('skipping (skipStruct) consumes exactly one encoded struct', () => {
      const b = encode(p, AllTypes, richValue());
      const r = new BufferReader(Buffer.concat([b, Buffer.from([0xaa])]));
      p.skipStruct(r);
      assert.equal(r.pos, b.length);
    });

    it('i64 extremes and values around 2^32 / 2^53', () => {
      const vals = [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 32n, -(2n ** 32n), 2n ** 53n + 1n, -(2n ** 53n) - 1n, 4294967295n, -2147483649n];
      for (const x of vals) assert.deepStrictEqual(roundTrip(p, box(T.i64), { v: x }), { v: x }, String(x));
    });

    it('i8 / i16 / i32 extremes', () => {
      for (const [t, xs] of [
        [T.byte, [-128, 127, 0, -1]],
        [T.i16, [-32768, 32767, -1]],
        [T.i32, [-2147483648, 2147483647, -1, 0]],
      ] as const) {
        for (const x of xs) assert.deepStrictEqual(roundTrip(p, box(t), { v: x }), { v: x });
      }
    });

    it('doubles: NaN, -0, +0, ±Infinity, denormals', () => {
      for (const x of [NaN, -0, 0, Infinity, -Infinity, Number.MIN_VALUE, -Number.MAX_VALUE, 0.1]) {
        const out = roundTrip(p, box(T.double), { v: x }).v as number;
        assert.ok(Object.is(out, x), `${x} -> ${out}`);
      }
    });

    it('unicode (astral chars, long strings) and invalid UTF-8 decodes to U+FFFD', () => {
      for (const s of ['', 'a', 'é', '✓', '😀', 'x😀y'.repeat(50), 'ü'.repeat(100000), 'abcdefghijkl', 'abcdefghijklm']) {
        assert.equal(roundTrip(p, box(T.string), { v: s }).v, s);
      }
      // Same bytes as a valid binary field, read as a string: lone 0xff becomes U+FFFD, as Node does.
      const bad = encode(p, box(T.binary), { v: Buffer.from([0x61, 0xff, 0x62]) });
      assert.equal(decode(p, box(T.string), bad).v, 'a\ufffdb');
    });

    it('empty and large binary (copied, not a view of the input)', () => {
      assert.deepStrictEqual(roundTrip(p, box(T.binary), { v: Buffer.alloc(0) }), { v: Buffer.alloc(0) });
      const big = Buffer.alloc(1 << 20, 7);
      const b = encode(p, box(T.binary), { v: big });
      const out = decode(p, box(T.binary), b).v as Buffer;
      b.fill(0);
      assert.ok(out.equals(big));
      // any Uint8Array is accepted on write
      assert.deepStrictEqual(roundTrip(p, box(T.binary), { v: new Uint8Array([1, 2]) }), { v: Buffer.from([1, 2]) });
    });

    it('long lists (compact long form), bool lists, nested containers, empty containers', () => {
      const desc: StructDesc = {
        name: 'C',
        kind: 'struct',
        fields: [
          { id: 1, name: 'bools', type: T.list(T.bool), requiredness: 'default' },
          { id: 2, name: 'big', type: T.list(T.i16), requiredness: 'default' },
          { id: 3, name: 'nested', type: T.map(T.string, T.list(T.set(T.byte))), requiredness: 'default' },
          { id: 4, name: 'emptyMap', type: T.map(T.i32, T.string), requiredness: 'default' },
          { id: 5, name: 'emptySet', type: T.set(T.double), requiredness: 'default' },
          { id: 6, name: 'boolMap', type: T.map(T.bool, T.bool), requiredness: 'default' },
        ],
      };
      const v = {
        bools: [true, false, true],
        big: Array.from({ length: 300 }, (_, i) => i - 150),
        nested: new Map([['a', [new Set([1, -1]), new Set<number>()]]]),
        emptyMap: new Map(),
        emptySet: new Set(),
        boolMap: new Map([
          [true, false],
          [false, true],
        ]),
      };
      assert.deepStrictEqual(roundTrip(p, desc, v), v);
    });

    it('field ids: large gaps, negative ids, id 0 (compact long-form headers)', () => {
      const desc: StructDesc = {
        name: 'Ids',
        kind: 'struct',
        fields: [
          { id: -5, name: 'neg', type: T.bool, requiredness: 'default' },
          { id: 0, name: 'zero', type: T.i32, requiredness: 'default' },
          { id: 1000, name: 'far', type: T.bool, requiredness: 'default' },
          { id: 32767, name: 'max', type: T.string, requiredness: 'default' },
          { id: 3, name: 'back', type: T.i64, requiredness: 'default' },
        ],
      };
      const v = { neg: false, zero: 7, far: true, max: 'm', back: -3n };
      assert.deepStrictEqual(roundTrip(p, desc, v), v);
    });

    it('unions: exactly one field set', () => {
      for (const v of [{ point: { x: 1, y: 2 } }, { radius: 2.5 }, { name: 'n' }]) assert.deepStrictEqual(roundTrip(p, Shape, v), v);
      assert.throws(() => encode(p, Shape, {}), InvalidArgumentError);
      assert.throws(() => encode(p, Shape, { radius: 1, name: 'x' }), /exactly one field set, got 2/);
    });

    it('defaults: written when absent, applied on decode when absent from the input', () => {
      const out = roundTrip(p, AllTypes, { id: 'x' });
      assert.equal(out['priority'], 5);
      assert.equal(out['withDefault'], 42);
      assert.equal(out['strDefault'], 'dflt');
      assert.deepStrictEqual(out['listDefault'], [1, 2, 3]);
      assert.equal('note' in out, false, 'optional without default stays absent');
      // Absent on the wire: defaults still applied (for default-requiredness fields only).
      const bare: StructDesc = { name: 'AllTypes', kind: 'struct', fields: [AllTypes.fields.find((f) => f.name === 'id')!] };
      const decoded = decode(p, AllTypes, encode(p, bare, { id: 'x' }));
      assert.equal(decoded['withDefault'], 42);
      assert.deepStrictEqual(decoded['listDefault'], [1, 2, 3]);
      // fresh containers per object
      assert.notEqual(decode(p, AllTypes, encode(p, bare, { id: 'x' }))['listDefault'], decoded['listDefault']);
      // optional-with-default (Audit.createdBy) is written when unset, as Apache does
      assert.deepStrictEqual(roundTrip(p, Audit, { createdAt: 1n }), { createdAt: 1n, createdBy: 'system' });
    });

    it('required fields: missing on write → InvalidArgumentError naming struct and field; on read → ProtocolError', () => {
      assert.throws(
        () => encode(p, Point, { x: 1 }),
        (e: unknown) => e instanceof InvalidArgumentError && /Point\.y/.test(e.message),
      );
      assert.throws(() => encode(p, Point, { x: 1, y: null }), InvalidArgumentError);
      const onlyX: StructDesc = { name: 'P', kind: 'struct', fields: [Point.fields[0]!] };
      assert.throws(
        () => decode(p, Point, encode(p, onlyX, { x: 1 })),
        (e: unknown) => e instanceof ProtocolError && /Point\.y/.test(e.message),
      );
    });

    it('wrong JS types and out-of-range numbers throw InvalidArgumentError with the field path', () => {
      const bad: [TypeDesc, unknown][] = [
        [T.i32, '1'],
        [T.i32, 2 ** 31],
        [T.i32, 1.5],
        [T.i16, 40000],
        [T.byte, 128],
        [T.byte, -129],
        [T.i64, 1],
        [T.i64, 2n ** 63n],
        [T.i64, -(2n ** 63n) - 1n],
        [T.double, 1n],
        [T.string, 1],
        [T.binary, 'str'],
        [T.bool, 1],
        [T.list(T.i32), new Set([1])],
        [T.set(T.i32), [1]],
        [T.map(T.i32, T.i32), {}],
        [T.list(T.i32), [1, 'x']],
        [T.struct(() => Point), 5],
        [T.map(T.string, T.i64), new Map([['a', 1]])],
      ];
      for (const [t, v] of bad) {
        assert.throws(
          () => encode(p, box(t), { v }),
          (e: unknown) => e instanceof InvalidArgumentError && e.message.startsWith('Box.v: '),
          `${t.kind} ${String(v)}`,
        );
      }
      assert.throws(() => encode(p, AllTypes, { id: 'x', audit: { createdAt: 'now' } }), /Audit\.createdAt: expected i64/);
    });

    it('cyclic values fail cleanly instead of overflowing the stack', () => {
      const a: unknown[] = [];
      a.push(a);
      const Deep: StructDesc = { name: 'Deep', kind: 'struct', fields: [{ id: 1, name: 'v', type: T.list(T.struct(() => Deep)), requiredness: 'default' }] };
      const o: { v: unknown[] } = { v: [] };
      o.v.push(o);
      assert.throws(() => encode(p, Deep, o), InvalidArgumentError);
    });

    it('exceptions decode through desc.create', () => {
      const out = roundTrip(p, NotFoundDesc, new NotFound({ message: 'gone', key: 'k1' }));
      assert.ok(out instanceof NotFound);
      assert.equal(out.message, 'gone');
      assert.equal((out as NotFound).key, 'k1');
    });

    it('unknown fields and fields with a mismatched wire type are skipped', () => {
      const v = richValue();
      const wire = encode(p, AllTypes, v);
      const subset: StructDesc = { name: 'Sub', kind: 'struct', fields: [AllTypes.fields[6]!, { id: 4, name: 'anI32', type: T.string, requiredness: 'default' }] };
      assert.deepStrictEqual(decode(p, subset, wire), { aString: v['aString'] });
    });

    it('message headers round trip (all types, negative and max seqid)', () => {
      for (const type of [MessageType.CALL, MessageType.REPLY, MessageType.EXCEPTION, MessageType.ONEWAY]) {
        for (const seqid of [0, 1, -1, 2147483647, -2147483648]) {
          const w = new BufferWriter(8);
          p.writeMessageHeader(w, 'getUser✓', type, seqid);
          const r = new BufferReader(w.takeCopy());
          assert.deepStrictEqual(p.readMessageHeader(r), { name: 'getUser✓', type, seqid });
          assert.equal(r.remaining, 0);
        }
      }
      assert.throws(() => p.writeMessageHeader(new BufferWriter(8), 'x', MessageType.CALL, 2 ** 31), InvalidArgumentError);
    });

    it('message headers read against known names: matches and near misses read as without them', () => {
      const known = knownNames(['getUser✓', 'getUses', 'echo', '']);
      // Known; unknown of a known length (one byte differs, first or last); unknown length; non-ASCII.
      for (const name of ['getUser✓', 'getUses', 'echo', '', 'getUsex', 'xetUses', 'ech', 'getUser✗', 'é']) {
        const w = new BufferWriter(8);
        p.writeMessageHeader(w, name, MessageType.REPLY, 9);
        const wire = w.takeCopy();
        const r = new BufferReader(wire);
        assert.deepStrictEqual(p.readMessageHeader(r, known), { name, type: MessageType.REPLY, seqid: 9 });
        assert.equal(r.remaining, 0);
        assert.deepStrictEqual(p.readMessageHeader(new BufferReader(wire), replyName({ name: 'echo' })), { name, type: MessageType.REPLY, seqid: 9 });
      }
      // The length is still checked before any bytes are compared.
      const w = new BufferWriter(8);
      p.writeMessageHeader(w, 'echo', MessageType.REPLY, 9);
      const cut = w.takeCopy();
      assert.throws(() => p.readMessageHeader(new BufferReader(cut.subarray(0, cut.length - 6)), known), BufferUnderflow);
    });

    it('TApplicationException encode/decode', () => {
      const w = new BufferWriter(8);
      encodeApplicationException(p, w, TApplicationExceptionType.UNKNOWN_METHOD, 'no such method');
      const err = decodeApplicationException(p, new BufferReader(w.takeCopy()));
      assert.ok(err instanceof ThriftApplicationError);
      assert.equal(err.code, 'SCALES_ERR_APPLICATION');
      assert.equal(err.type, 1);
      assert.equal(err.typeName, 'UNKNOWN_METHOD');
      assert.equal(err.message, 'no such method');
    });
  });
}

describe('binary message header forms', () => {
  it('strict write is 0x80010000|type; non-strict write and read are supported; strictRead rejects old form', () => {
    const strict = new BufferWriter(8);
    binaryProtocol().writeMessageHeader(strict, 'm', MessageType.REPLY, 5);
    assert.equal(strict.view().toString('hex'), '80010002' + '00000001' + '6d' + '00000005');
    const old = new BufferWriter(8);
    binaryProtocol({ strictWrite: false }).writeMessageHeader(old, 'm', MessageType.CALL, 7);
    assert.equal(old.view().toString('hex'), '00000001' + '6d' + '01' + '00000007');
    assert.deepStrictEqual(binaryProtocol().readMessageHeader(new BufferReader(old.takeCopy())), { name: 'm', type: 1, seqid: 7 });
    old.reset();
    binaryProtocol({ strictWrite: false }).writeMessageHeader(old, 'm', MessageType.CALL, 7);
    assert.throws(() => binaryProtocol({ strictRead: true }).readMessageHeader(new BufferReader(old.takeCopy())), ProtocolError);
    assert.throws(() => binaryProtocol().readMessageHeader(new BufferReader(Buffer.from('80020001000000016d00000001', 'hex'))), /version/);
  });

  it('compact header layout: 0x82, version|type<<5, varint seqid, name', () => {
    const w = new BufferWriter(8);
    compactProtocol().writeMessageHeader(w, 'm', MessageType.REPLY, 300);
    assert.equal(w.view().toString('hex'), '82' + '41' + 'ac02' + '01' + '6d');
  });

  it('Small has the exact bytes Apache writes', () => {
    // Bytes produced by Apache Thrift (python TBinaryProtocol/TCompactProtocol) for smallValue().
    assert.equal(
      encode(binaryProtocol(), Small, smallValue()).toString('hex'),
      '0a00010000011f71fb04cb0b0002000000067363616c65730f0003080000000800000001000000020000000300000004000000050000000600000007000000080200040100',
    );
    assert.equal(encode(compactProtocol(), Small, smallValue()).toString('hex'), '169693d89fee4718067363616c65731985020406080a0c0e101100');
  });
});
