/**
 * Hostile input: every malformed buffer must end in a typed error (ProtocolError, or
 * BufferUnderflow for truncation, which unframed transports treat as "wait for more bytes"),
 * quickly, without crashing or allocating what the input claims.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BufferReader, BufferUnderflow, BufferWriter } from '../../src/core/bytes.js';
import { ProtocolError } from '../../src/core/errors.js';
import { binaryProtocol } from '../../src/protocols/thrift/binary.js';
import { compactProtocol } from '../../src/protocols/thrift/compact.js';
import { T, type StructDesc } from '../../src/protocols/thrift/descriptors.js';
import type { ThriftProtocol } from '../../src/protocols/thrift/protocol.js';
import { AllTypes, richValue } from './codec-fixtures.js';

const ListBox: StructDesc = { name: 'ListBox', kind: 'struct', fields: [{ id: 1, name: 'v', type: T.list(T.i64), requiredness: 'default' }] };
const MapBox: StructDesc = { name: 'MapBox', kind: 'struct', fields: [{ id: 1, name: 'v', type: T.map(T.string, T.string), requiredness: 'default' }] };
const StrBox: StructDesc = { name: 'StrBox', kind: 'struct', fields: [{ id: 1, name: 'v', type: T.string, requiredness: 'default' }] };
const BoolList: StructDesc = { name: 'BoolList', kind: 'struct', fields: [{ id: 1, name: 'v', type: T.list(T.bool), requiredness: 'default' }] };
const Rec: StructDesc = { name: 'Rec', kind: 'struct', fields: [{ id: 1, name: 'next', type: T.struct(() => Rec), requiredness: 'optional' }] };

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Both the typed decoder and the skipper must reject `bytes` with `expected`. */
function rejects(p: ThriftProtocol, desc: StructDesc, bytes: Buffer, expected: typeof ProtocolError | typeof BufferUnderflow | RegExp): void {
  const t0 = performance.now();
  assert.throws(() => p.readStruct(new BufferReader(bytes), desc), expected as never, 'readStruct');
  assert.throws(() => p.skipStruct(new BufferReader(bytes)), expected as never, 'skipStruct');
  assert.ok(performance.now() - t0 < 500, 'fails fast');
}

describe('binary: hostile input', () => {
  const p = binaryProtocol();

  it('truncation anywhere → BufferUnderflow, never anything else', () => {
    const w = new BufferWriter();
    p.writeStruct(w, AllTypes, richValue());
    const full = w.takeCopy();
    for (let n = 0; n < full.length; n++) rejects(p, AllTypes, full.subarray(0, n), BufferUnderflow);
  });

  it('negative sizes → ProtocolError', () => {
    rejects(p, ListBox, hex('0f0001 0a ffffffff 00'), /negative container size/);
    rejects(p, MapBox, hex('0d0001 0b0b 80000000 00'), /negative/);
    rejects(p, StrBox, hex('0b0001 fffffffe 00'), /negative string length/);
  });

  it('2^31-1 elements in a few bytes → ProtocolError (over maxContainerSize) before allocating', () => {
    rejects(p, ListBox, hex('0f0001 0a 7fffffff 0000'), /exceeds the limit/);
    rejects(p, MapBox, hex('0d0001 0b0b 7fffffff 00'), /exceeds the limit/);
  });

  it('a size under the limit but beyond the remaining bytes → BufferUnderflow (unframed streams wait)', () => {
    rejects(p, ListBox, hex('0f0001 0a 00100000 0000000000000001'), BufferUnderflow);
  });

  it('string longer than maxStringLength → ProtocolError', () => {
    const small = binaryProtocol({ limits: { maxStringLength: 4 } });
    rejects(small, StrBox, hex('0b0001 00000005 6162636465 00'), /exceeds the limit of 4/);
  });

  it('unknown type ids → ProtocolError (field, list element, map key)', () => {
    rejects(p, StrBox, hex('050001 00'), /unknown type id 5/);
    rejects(p, ListBox, hex('0f0001 11 00000001 00'), /unknown type id 17/);
    rejects(p, MapBox, hex('0d0001 070b 00000001 00'), /unknown type id 7/);
  });

  it('list element type not matching the descriptor → ProtocolError', () => {
    assert.throws(() => p.readStruct(new BufferReader(hex('0f0001 08 00000001 00000001 00')), ListBox), ProtocolError);
  });

  it('nesting 10,000 deep → ProtocolError at maxDepth, no stack overflow', () => {
    const deepStruct = Buffer.concat([Buffer.alloc(0), ...Array.from({ length: 10000 }, () => hex('0c0001')), Buffer.alloc(10001)]);
    rejects(p, Rec, deepStruct, /nesting deeper than 64/);
    const deepList = Buffer.concat([hex('0f0001'), ...Array.from({ length: 10000 }, () => hex('0f 00000001')), hex('08 00000000')]);
    rejects(p, ListBox, deepList, ProtocolError);
    // 64 levels are fine
    const ok = Buffer.concat([...Array.from({ length: 63 }, () => hex('0c0001')), Buffer.alloc(64)]);
    assert.doesNotThrow(() => p.readStruct(new BufferReader(ok), Rec));
  });

  it('bad message headers → ProtocolError', () => {
    assert.throws(() => p.readMessageHeader(new BufferReader(hex('80010009 00000001 6d 00000001'))), /unknown message type 9/);
    assert.throws(() => p.readMessageHeader(new BufferReader(hex('7fffffff 6d'))), /exceeds the limit/);
  });
});

describe('compact: hostile input', () => {
  const p = compactProtocol();

  it('truncation anywhere → BufferUnderflow', () => {
    const w = new BufferWriter();
    p.writeStruct(w, AllTypes, richValue());
    const full = w.takeCopy();
    for (let n = 0; n < full.length; n++) rejects(p, AllTypes, full.subarray(0, n), BufferUnderflow);
  });

  it('negative sizes (varint with the sign bit) → ProtocolError', () => {
    rejects(p, ListBox, hex('19 f6 ffffffff0f 00'), /negative container size/);
    rejects(p, MapBox, hex('1b ffffffff0f 88 00'), /negative/);
    rejects(p, StrBox, hex('18 feffffff0f 00'), /negative string length/);
  });

  it('2^31-1 elements → ProtocolError before allocating', () => {
    rejects(p, ListBox, hex('19 f6 ffffffff07 00'), /exceeds the limit/);
    rejects(p, MapBox, hex('1b ffffffff07 88 00'), /exceeds the limit/);
  });

  it('bool lists: one byte per element counts against the remaining bytes', () => {
    // 1,000,000 bools claimed, 3 present: truncation, not an allocation of 1M entries.
    rejects(p, BoolList, hex('19 f1 c0843d 010201'), BufferUnderflow);
    assert.deepStrictEqual(p.readStruct(new BufferReader(hex('19 31 010200 00')), BoolList), { v: [true, false, false] });
  });

  it('over-long varints → ProtocolError', () => {
    rejects(p, StrBox, hex('18 ffffffffffff01 00'), /varint/);
    const I64Box: StructDesc = { name: 'I', kind: 'struct', fields: [{ id: 1, name: 'v', type: T.i64, requiredness: 'default' }] };
    rejects(p, I64Box, hex('16 ffffffffffffffffffff01 00'), /varint/);
  });

  it('unknown type ids → ProtocolError', () => {
    rejects(p, StrBox, hex('1e 00'), /unknown type id 14/);
    rejects(p, ListBox, hex('19 1f 00 00'), /unknown type id 15/);
  });

  it('nesting 10,000 deep → ProtocolError at maxDepth', () => {
    rejects(p, Rec, Buffer.concat([Buffer.from(Array(10000).fill(0x1c)), Buffer.alloc(10001)]), /nesting deeper than 64/);
    rejects(p, ListBox, Buffer.concat([hex('19'), Buffer.from(Array(10000).fill(0x19)), hex('06')]), ProtocolError);
  });

  it('bad message headers → ProtocolError', () => {
    assert.throws(() => p.readMessageHeader(new BufferReader(hex('81 21 01 01 6d'))), /not a compact protocol message/);
    assert.throws(() => p.readMessageHeader(new BufferReader(hex('82 22 01 01 6d'))), /version 2/);
    assert.throws(() => p.readMessageHeader(new BufferReader(hex('82 e1 01 01 6d'))), /unknown message type 7/);
  });
});

for (const p of [binaryProtocol(), compactProtocol()]) {
  it(`${p.name}: 2,000 random garbage buffers end only in ProtocolError or BufferUnderflow`, () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.alloc(1 + Math.floor(rand() * 64));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
      for (const run of [() => p.readStruct(new BufferReader(b), AllTypes), () => p.skipStruct(new BufferReader(b)), () => p.readMessageHeader(new BufferReader(b))]) {
        try {
          run();
        } catch (e) {
          if (!(e instanceof ProtocolError || e instanceof BufferUnderflow)) throw e;
        }
      }
    }
    assert.ok(performance.now() - t0 < 3000);
  });
}
