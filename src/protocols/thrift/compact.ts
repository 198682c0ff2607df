/**
 * TCompactProtocol, byte for byte as Apache Thrift: zigzag varints for i16/i32/i64, field id
 * deltas in the high nibble of the field header, bool values folded into field headers (and one
 * byte each, 1 = true / 2 = false, inside containers), short list/set headers for up to 14
 * elements, a single 0 byte for an empty map, doubles little-endian. Message header: 0x82,
 * `version | type << 5`, varint seqid, name.
 */
import type { BufferReader, BufferWriter } from '../../core/bytes.js';
import { type InvalidArgumentError, ProtocolError } from '../../core/errors.js';
import type { FieldDesc, MessageType, StructDesc, TypeDesc } from './descriptors.js';
import type { KnownNames } from './known-names.js';
import type { DecodeLimits, MessageHeader, ThriftProtocol } from './protocol.js';
import {
  badValue,
  charge,
  checkCount,
  COST,
  checkMessageArgs,
  checkMessageType,
  checkStringLength,
  decodeUtf8,
  decoderFor,
  elemMismatch,
  encodeUtf8,
  encoderFor,
  encodeTooDeep,
  ENCODE_MAX_DEPTH,
  I64_MAX,
  I64_MIN,
  resolveLimits,
  startBudget,
  tooDeep,
  unknownType,
  type DecodeState,
  type Dialect,
} from './codec-shared.js';
import { HI, LO, SCR_I64, SCR_U32 } from '../../core/int64-scratch.js';

/** Compact wire type ids. */
export const CType = {
  STOP: 0,
  BOOL_TRUE: 1,
  BOOL_FALSE: 2,
  BYTE: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
  UUID: 13,
} as const;

const PROTOCOL_ID = 0x82;
const VERSION = 1;

/** Fewest bytes one value of each type takes inside a container (0: not a valid type). */
const MIN_BYTES: readonly number[] = [0, 1, 1, 1, 1, 1, 1, 8, 1, 1, 1, 1, 1, 16, 0, 0];
/** Exact size of fixed-width types inside a container (0: variable or invalid). */
const FIXED_BYTES: readonly number[] = [0, 1, 1, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 16, 0, 0];

export function compactWireType(t: TypeDesc): number {
  switch (t.kind) {
    case 'bool':
      return CType.BOOL_TRUE;
    case 'byte':
      return CType.BYTE;
    case 'i16':
      return CType.I16;
    case 'i32':
    case 'enum':
      return CType.I32;
    case 'i64':
      return CType.I64;
    case 'double':
      return CType.DOUBLE;
    case 'string':
    case 'binary':
      return CType.BINARY;
    case 'struct':
      return CType.STRUCT;
    case 'map':
      return CType.MAP;
    case 'set':
      return CType.SET;
    case 'list':
      return CType.LIST;
  }
}

// ---- writers ------------------------------------------------------------------------------

/** `n` is an unsigned 32-bit value. */
function putVarint32(w: BufferWriter, n: number): void {
  w.ensure(5);
  const b = w.buf;
  let p = w.pos;
  while (n >= 0x80) {
    b[p++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  b[p++] = n;
  w.pos = p;
}

function fh(w: BufferWriter, ct: number, id: number, last: number): number {
  const delta = id - last;
  if (delta > 0 && delta <= 15) {
    w.ensure(1);
    w.buf[w.pos++] = (delta << 4) | ct;
  } else {
    w.ensure(1);
    w.buf[w.pos++] = ct;
    putVarint32(w, ((id << 1) ^ (id >> 31)) >>> 0);
  }
  return id;
}

function stop(w: BufferWriter): void {
  w.ensure(1);
  w.buf[w.pos++] = 0;
}

function badBool(v: unknown): InvalidArgumentError {
  return badValue('bool', v);
}

function w_bool(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'boolean') throw badValue('bool', v);
  w.ensure(1);
  w.buf[w.pos++] = v ? CType.BOOL_TRUE : CType.BOOL_FALSE;
}

function w_byte(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'number' || (v << 24) >> 24 !== v) throw badValue('byte (integer in [-128, 127])', v);
  w.ensure(1);
  w.buf[w.pos++] = v;
}

function w_i16(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'number' || (v << 16) >> 16 !== v) throw badValue('i16 (integer in [-32768, 32767])', v);
  putVarint32(w, ((v << 1) ^ (v >> 31)) >>> 0);
}

function w_i32(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'number' || (v | 0) !== v) throw badValue('i32 (32-bit integer)', v);
  putVarint32(w, ((v << 1) ^ (v >> 31)) >>> 0);
}

function w_i64(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'bigint' || v < I64_MIN || v > I64_MAX) throw badValue('i64 (bigint in signed 64-bit range)', v);
  SCR_I64[0] = v;
  const hi0 = SCR_U32[HI]!;
  const lo0 = SCR_U32[LO]!;
  // zigzag over the two 32-bit halves: (v << 1) ^ (v >> 63)
  const sign = (hi0 | 0) >> 31;
  let hi = (((hi0 << 1) | (lo0 >>> 31)) ^ sign) >>> 0;
  let lo = ((lo0 << 1) ^ sign) >>> 0;
  w.ensure(10);
  const b = w.buf;
  let p = w.pos;
  while (hi !== 0) {
    b[p++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 0x7f) {
    b[p++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  b[p++] = lo;
  w.pos = p;
}

function w_double(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'number') throw badValue('double (number)', v);
  w.writeDoubleLE(v);
}

function w_string(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'string') throw badValue('string', v);
  const len = v.length;
  if (len <= 42) {
    // ≤ 126 UTF-8 bytes: the length is one varint byte, so write in place and fill it after.
    w.ensure(1 + len * 3);
    const b = w.buf;
    const at = w.pos;
    const n = encodeUtf8(b, at + 1, v);
    b[at] = n;
    w.pos = at + 1 + n;
    return;
  }
  const n = Buffer.byteLength(v, 'utf8');
  putVarint32(w, n);
  w.ensure(n);
  w.pos += w.buf.utf8Write(v, w.pos);
}

function w_binary(w: BufferWriter, v: unknown): void {
  if (!(v instanceof Uint8Array)) throw badValue('binary (Buffer or Uint8Array)', v);
  putVarint32(w, v.length);
  w.writeBytes(v);
}

function listBegin(w: BufferWriter, elemWire: number, n: number, d: number): void {
  if (d > ENCODE_MAX_DEPTH) throw encodeTooDeep();
  w.ensure(1);
  if (n <= 14) {
    w.buf[w.pos++] = (n << 4) | elemWire;
  } else {
    w.buf[w.pos++] = 0xf0 | elemWire;
    putVarint32(w, n);
  }
}

function mapBegin(w: BufferWriter, keyWire: number, valueWire: number, n: number, d: number): void {
  if (d > ENCODE_MAX_DEPTH) throw encodeTooDeep();
  if (n === 0) {
    w.ensure(1);
    w.buf[w.pos++] = 0;
    return;
  }
  putVarint32(w, n);
  w.ensure(1);
  w.buf[w.pos++] = (keyWire << 4) | valueWire;
}

// ---- readers ------------------------------------------------------------------------------

function u8(r: BufferReader): number {
  return r.readU8();
}

/** A raw varint of at most 5 bytes, as int32 (bits past 32 dropped, as Apache does). */
function readVarint32(r: BufferReader): number {
  const b = r.buf;
  const end = r.end;
  let p = r.pos;
  let result = 0;
  for (let shift = 0; ; shift += 7) {
    if (p >= end) r.need(1 + p - r.pos); // throws BufferUnderflow
    const c = b[p++]!;
    result |= (c & 0x7f) << shift;
    if (c < 0x80) break;
    if (shift === 28) throw new ProtocolError('varint32 longer than 5 bytes');
  }
  r.pos = p;
  return result;
}

function readSize(r: BufferReader): number {
  return readVarint32(r);
}

function r_bool(r: BufferReader): boolean {
  return r.readU8() === CType.BOOL_TRUE;
}

function r_byte(r: BufferReader): number {
  return (r.readU8() << 24) >> 24;
}

function r_i16(r: BufferReader): number {
  const z = readVarint32(r);
  return (((z >>> 1) ^ -(z & 1)) << 16) >> 16;
}

function r_i32(r: BufferReader): number {
  const z = readVarint32(r);
  return (z >>> 1) ^ -(z & 1);
}

function r_i64(r: BufferReader): bigint {
  const b = r.buf;
  const end = r.end;
  let p = r.pos;
  let lo = 0;
  let hi = 0;
  let c = 0x80;
  // Bytes 0-3 fill lo bits 0-27, byte 4 straddles the halves, bytes 5-9 fill hi bits 3-31.
  for (let s = 0; s < 28 && c >= 0x80; s += 7) {
    if (p >= end) r.need(1 + p - r.pos);
    c = b[p++]!;
    lo |= (c & 0x7f) << s;
  }
  if (c >= 0x80) {
    if (p >= end) r.need(1 + p - r.pos);
    c = b[p++]!;
    lo |= (c & 0x7f) << 28;
    hi = (c & 0x7f) >> 4;
    for (let s = 3; s < 38 && c >= 0x80; s += 7) {
      if (p >= end) r.need(1 + p - r.pos);
      c = b[p++]!;
      hi |= (c & 0x7f) << s;
    }
    if (c >= 0x80) throw new ProtocolError('varint64 longer than 10 bytes');
  }
  r.pos = p;
  const mask = -(lo & 1);
  SCR_U32[LO] = ((lo >>> 1) | (hi << 31)) ^ mask;
  SCR_U32[HI] = (hi >>> 1) ^ mask;
  return SCR_I64[0]!;
}

function r_double(r: BufferReader): number {
  return r.readDoubleLE();
}

function r_string(r: BufferReader, L: DecodeState): string {
  const n = readSize(r);
  checkStringLength(n, L);
  r.need(n);
  const s = decodeUtf8(r.buf, r.pos, n);
  r.pos += n;
  return s;
}

function r_binary(r: BufferReader, L: DecodeState): Buffer {
  const n = readSize(r);
  checkStringLength(n, L);
  return r.readBytes(n);
}

/** Compact writes bool elements as type 1; accept 2 as well, as Apache does. */
function sameElem(wire: number, expected: number): boolean {
  return wire === expected || (expected === CType.BOOL_TRUE && wire === CType.BOOL_FALSE);
}

/** Reads a list/set header; returns the count after checking type, limits and remaining bytes. */
function listHead(r: BufferReader, elemWire: number, d: number, L: DecodeState): number {
  if (d > L.maxDepth) throw tooDeep(L.maxDepth);
  const h = r.readU8();
  const et = h & 0x0f;
  const n = h >> 4 === 15 ? readSize(r) : h >> 4;
  if (n === 0) return 0;
  const min = MIN_BYTES[et]!;
  if (min === 0) throw unknownType(et);
  checkCount(r, n, min, L);
  if (!sameElem(et, elemWire)) throw elemMismatch('list/set element', et, elemWire);
  return n;
}

function mapHead(r: BufferReader, keyWire: number, valueWire: number, d: number, L: DecodeState): number {
  if (d > L.maxDepth) throw tooDeep(L.maxDepth);
  const n = readSize(r);
  if (n === 0) return 0;
  const kv = r.readU8();
  const kw = kv >> 4;
  const vw = kv & 0x0f;
  const kmin = MIN_BYTES[kw]!;
  const vmin = MIN_BYTES[vw]!;
  if (kmin === 0) throw unknownType(kw);
  if (vmin === 0) throw unknownType(vw);
  checkCount(r, n, kmin + vmin, L);
  if (!sameElem(kw, keyWire)) throw elemMismatch('map key', kw, keyWire);
  if (!sameElem(vw, valueWire)) throw elemMismatch('map value', vw, valueWire);
  return n;
}

function skipVarint(r: BufferReader): void {
  for (let i = 0; i < 10; i++) if (r.readU8() < 0x80) return;
  throw new ProtocolError('varint longer than 10 bytes');
}

/** Skips a field value: bools live in the field header, so they take no bytes here. */
function skipField(r: BufferReader, t: number, d: number, L: DecodeState): void {
  if (t === CType.BOOL_TRUE || t === CType.BOOL_FALSE) return;
  skip(r, t, d, L);
}

/** Skips one value (as found inside a container) of compact type `t` at depth `d`. */
function skip(r: BufferReader, t: number, d: number, L: DecodeState): void {
  switch (t) {
    case CType.BOOL_TRUE:
    case CType.BOOL_FALSE:
    case CType.BYTE:
    case CType.DOUBLE:
    case CType.UUID:
      r.skip(FIXED_BYTES[t]!);
      return;
    case CType.I16:
    case CType.I32:
    case CType.I64:
      skipVarint(r);
      return;
    case CType.BINARY: {
      const n = readSize(r);
      checkStringLength(n, L);
      r.skip(n);
      charge(L, COST.STRING);
      return;
    }
    case CType.STRUCT:
      if (d > L.maxDepth) throw tooDeep(L.maxDepth);
      charge(L, COST.STRUCT);
      for (;;) {
        const h = r.readU8();
        if (h === CType.STOP) return;
        if (h >> 4 === 0) skipVarint(r); // long-form field id
        skipField(r, h & 0x0f, d + 1, L);
      }
    case CType.LIST:
    case CType.SET: {
      if (d > L.maxDepth) throw tooDeep(L.maxDepth);
      const h = r.readU8();
      const et = h & 0x0f;
      const n = h >> 4 === 15 ? readSize(r) : h >> 4;
      charge(L, COST.LIST);
      if (n === 0) return;
      const min = MIN_BYTES[et]!;
      if (min === 0) throw unknownType(et);
      checkCount(r, n, min, L);
      charge(L, n * (COST.LIST_SLOT + (et === CType.I64 ? COST.I64 : 0)));
      const fixed = FIXED_BYTES[et]!;
      if (fixed !== 0) return r.skip(n * fixed);
      for (let i = 0; i < n; i++) skip(r, et, d + 1, L);
      return;
    }
    case CType.MAP: {
      if (d > L.maxDepth) throw tooDeep(L.maxDepth);
      const n = readSize(r);
      charge(L, COST.MAP);
      if (n === 0) return;
      const kv = r.readU8();
      const kw = kv >> 4;
      const vw = kv & 0x0f;
      const kmin = MIN_BYTES[kw]!;
      const vmin = MIN_BYTES[vw]!;
      if (kmin === 0) throw unknownType(kw);
      if (vmin === 0) throw unknownType(vw);
      checkCount(r, n, kmin + vmin, L);
      charge(L, n * (COST.MAP_ENTRY + (kw === CType.I64 ? COST.I64 : 0) + (vw === CType.I64 ? COST.I64 : 0)));
      const kf = FIXED_BYTES[kw]!;
      const vf = FIXED_BYTES[vw]!;
      if (kf !== 0 && vf !== 0) return r.skip(n * (kf + vf));
      for (let i = 0; i < n; i++) {
        skip(r, kw, d + 1, L);
        skip(r, vw, d + 1, L);
      }
      return;
    }
    default:
      throw unknownType(t);
  }
}

// ---- the struct compiler dialect ------------------------------------------------------------

const P = {
  fh,
  stop,
  badBool,
  w_bool,
  w_byte,
  w_i16,
  w_i32,
  w_i64,
  w_double,
  w_string,
  w_binary,
  listBegin,
  mapBegin,
  u8,
  r_bool,
  r_byte,
  r_i16,
  r_i32,
  r_i64,
  r_double,
  r_string,
  r_binary,
  listHead,
  mapHead,
  skip: skipField,
  enc: (desc: StructDesc) => encoderFor(COMPACT, desc),
  dec: (desc: StructDesc) => decoderFor(COMPACT, desc),
};

const COMPACT: Dialect = {
  name: 'compact',
  encKey: Symbol('scales.thrift.compact.encode'),
  decKey: Symbol('scales.thrift.compact.decode'),
  P,
  elemWire: compactWireType,
  encPrologue: 'let last = 0;',
  fieldHeader: (f: FieldDesc) => `last = P.fh(w, ${compactWireType(f.type)}, ${f.id}, last);`,
  boolField: (f: FieldDesc) => `if (typeof x !== 'boolean') throw P.badBool(x); last = P.fh(w, x ? ${CType.BOOL_TRUE} : ${CType.BOOL_FALSE}, ${f.id}, last);`,
  decPrologue: 'let last = 0;',
  // Delta in the high nibble, or 0 and a zigzag i16 id after the byte.
  decHead: `t = P.u8(r); if (t === 0) break; id = t >> 4; id = id === 0 ? P.r_i16(r) : last + id; last = id; t &= 15;`,
  match: (t: TypeDesc) => (t.kind === 'bool' ? `(t === 1 || t === 2)` : `t === ${compactWireType(t)}`),
  readBool: 't === 1',
};

// ---- the protocol -------------------------------------------------------------------------

export interface CompactProtocolOptions {
  limits?: Partial<DecodeLimits>;
}

class CompactProtocolImpl implements ThriftProtocol {
  readonly name = 'compact';
  private readonly limits: DecodeState;

  constructor(opts: CompactProtocolOptions) {
    this.limits = resolveLimits(opts.limits);
  }

  writeMessageHeader(w: BufferWriter, name: string, type: MessageType, seqid: number): void {
    checkMessageArgs(name, type, seqid);
    w.ensure(2);
    w.buf[w.pos++] = PROTOCOL_ID;
    w.buf[w.pos++] = VERSION | (type << 5);
    putVarint32(w, seqid >>> 0);
    w_string(w, name);
  }

  readMessageHeader(r: BufferReader, known?: KnownNames): MessageHeader {
    startBudget(r, this.limits);
    const id = r.readU8();
    if (id !== PROTOCOL_ID) throw new ProtocolError(`not a compact protocol message (first byte 0x${id.toString(16)}, expected 0x82)`);
    const vt = r.readU8();
    if ((vt & 0x1f) !== VERSION) throw new ProtocolError(`unsupported compact protocol version ${vt & 0x1f}`);
    const seqid = readVarint32(r);
    const n = readSize(r);
    checkStringLength(n, this.limits);
    r.need(n);
    const name = known?.find(r.buf, r.pos, n) ?? decodeUtf8(r.buf, r.pos, n);
    r.pos += n;
    return { name, type: checkMessageType((vt >> 5) & 0x07), seqid };
  }

  writeStruct(w: BufferWriter, desc: StructDesc, value: object): void {
    encoderFor(COMPACT, desc)(w, value, 1);
  }

  readStruct(r: BufferReader, desc: StructDesc): object {
    startBudget(r, this.limits);
    return decoderFor(COMPACT, desc)(r, 1, this.limits);
  }

  skipStruct(r: BufferReader): void {
    startBudget(r, this.limits);
    skip(r, CType.STRUCT, 1, this.limits);
  }
}

export function compactProtocol(opts: CompactProtocolOptions = {}): ThriftProtocol {
  return new CompactProtocolImpl(opts);
}

/** The default compact protocol (default limits). */
export const CompactProtocol: ThriftProtocol = compactProtocol();
