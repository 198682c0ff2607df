/**
 * TCompactProtocol, byte for byte as Apache Thrift: zigzag varints for i16/i32/i64, field id
 * deltas in the high nibble of the field header, bool values folded into field headers (and one
 * byte each, 1 = true / 2 = false, inside containers), short list/set headers for up to 14
 * elements, a single 0 byte for an empty map, doubles little-endian. Message header: 0x82,
 * `version | type << 5`, varint seqid, name.
 */
import type { BufferReader, BufferWriter } from '../../core/bytes.js';
import { InvalidArgumentError, ProtocolError } from '../../core/errors.js';
import type { FieldDesc, MessageType, StructDesc, TypeDesc } from './descriptors.js';
import type { DecodeLimits, MessageHeader, ThriftProtocol } from './protocol.js';
import {
  badValue,
  checkCount,
  checkMessageArgs,
  checkMessageType,
  checkStringLength,
  decodeUtf8,
  decoderFor,
  elemMismatch,
  encodeUtf8,
  encoderFor,
  ENCODE_MAX_DEPTH,
  I64_MAX,
  I64_MIN,
  resolveLimits,
  tooDeep,
  unknownType,
  type Dialect,
} from './codec-shared.js';

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

/** |v| ≤ 2^52: its zigzag form (≤ 2^53) is still an exact double. */
const ZZ_SAFE = 2n ** 52n;
const TWO_31 = 2147483648;

export function compactWireType(t: TypeDesc): number {
  switch (t.kind) {
    case 'bool': return CType.BOOL_TRUE;
    case 'byte': return CType.BYTE;
    case 'i16': return CType.I16;
    case 'i32': case 'enum': return CType.I32;
    case 'i64': return CType.I64;
    case 'double': return CType.DOUBLE;
    case 'string': case 'binary': return CType.BINARY;
    case 'struct': return CType.STRUCT;
    case 'map': return CType.MAP;
    case 'set': return CType.SET;
    case 'list': return CType.LIST;
  }
}

function elemMatches(wire: number, t: TypeDesc): boolean {
  return t.kind === 'bool' ? wire === CType.BOOL_TRUE || wire === CType.BOOL_FALSE : wire === compactWireType(t);
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
  if (typeof v !== 'bigint') throw badValue('i64 (bigint)', v);
  w.ensure(10);
  const b = w.buf;
  let p = w.pos;
  if (v >= -ZZ_SAFE && v <= ZZ_SAFE) {
    const n = Number(v);
    let z = n >= 0 ? n * 2 : -n * 2 - 1;
    while (z >= TWO_31) {
      b[p++] = (z % 128) | 0x80;
      z = Math.floor(z / 128);
    }
    while (z >= 0x80) {
      b[p++] = (z & 0x7f) | 0x80;
      z >>>= 7;
    }
    b[p++] = z;
  } else {
    if (v < I64_MIN || v > I64_MAX) throw badValue('i64 (bigint in signed 64-bit range)', v);
    let z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    while (z >= 0x80n) {
      b[p++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    b[p++] = Number(z);
  }
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

function checkEncodeDepth(d: number): void {
  if (d > ENCODE_MAX_DEPTH) throw new InvalidArgumentError(`value nested deeper than ${ENCODE_MAX_DEPTH} levels (a cyclic value?)`);
}

function listHeader(w: BufferWriter, elem: TypeDesc, n: number): void {
  const ct = compactWireType(elem);
  if (n <= 14) {
    w.ensure(1);
    w.buf[w.pos++] = (n << 4) | ct;
  } else {
    w.ensure(1);
    w.buf[w.pos++] = 0xf0 | ct;
    putVarint32(w, n);
  }
}

function w_list(w: BufferWriter, elem: TypeDesc, a: unknown, d: number): void {
  if (!Array.isArray(a)) throw badValue('list (Array)', a);
  checkEncodeDepth(d);
  const n = a.length;
  listHeader(w, elem, n);
  switch (elem.kind) {
    case 'i32':
    case 'enum':
      for (let i = 0; i < n; i++) w_i32(w, a[i]);
      return;
    case 'i64':
      for (let i = 0; i < n; i++) w_i64(w, a[i]);
      return;
    case 'string':
      for (let i = 0; i < n; i++) w_string(w, a[i]);
      return;
    case 'struct': {
      const enc = encoderFor(COMPACT, elem.struct());
      for (let i = 0; i < n; i++) enc(w, a[i], d + 1);
      return;
    }
    default:
      for (let i = 0; i < n; i++) w_value(w, elem, a[i], d + 1);
  }
}

function w_set(w: BufferWriter, elem: TypeDesc, s: unknown, d: number): void {
  if (!(s instanceof Set)) throw badValue('set (Set)', s);
  checkEncodeDepth(d);
  listHeader(w, elem, s.size);
  for (const e of s) w_value(w, elem, e, d + 1);
}

function w_map(w: BufferWriter, kt: TypeDesc, vt: TypeDesc, m: unknown, d: number): void {
  if (!(m instanceof Map)) throw badValue('map (Map)', m);
  checkEncodeDepth(d);
  const n = m.size;
  if (n === 0) {
    w.ensure(1);
    w.buf[w.pos++] = 0;
    return;
  }
  putVarint32(w, n);
  w.ensure(1);
  w.buf[w.pos++] = (compactWireType(kt) << 4) | compactWireType(vt);
  for (const [k, v] of m) {
    w_value(w, kt, k, d + 1);
    w_value(w, vt, v, d + 1);
  }
}

function w_value(w: BufferWriter, t: TypeDesc, v: unknown, d: number): void {
  switch (t.kind) {
    case 'bool': return w_bool(w, v);
    case 'byte': return w_byte(w, v);
    case 'i16': return w_i16(w, v);
    case 'i32': case 'enum': return w_i32(w, v);
    case 'i64': return w_i64(w, v);
    case 'double': return w_double(w, v);
    case 'string': return w_string(w, v);
    case 'binary': return w_binary(w, v);
    case 'list': return w_list(w, t.elem, v, d);
    case 'set': return w_set(w, t.elem, v, d);
    case 'map': return w_map(w, t.key, t.value, v, d);
    case 'struct': return encoderFor(COMPACT, t.struct())(w, v, d);
  }
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

const POW2_7 = [1, 2 ** 7, 2 ** 14, 2 ** 21, 2 ** 28, 2 ** 35, 2 ** 42];

function r_i64(r: BufferReader): bigint {
  const b = r.buf;
  const end = r.end;
  let p = r.pos;
  let z = 0;
  let c = 0;
  // Up to 7 bytes (49 bits) accumulate exactly in a double.
  for (let i = 0; i < 7; i++) {
    if (p >= end) r.need(1 + p - r.pos);
    c = b[p++]!;
    z += (c & 0x7f) * POW2_7[i]!;
    if (c < 0x80) {
      r.pos = p;
      return BigInt(z % 2 === 0 ? z / 2 : -(z + 1) / 2);
    }
  }
  let big = BigInt(z);
  for (let shift = 49n; ; shift += 7n) {
    if (p >= end) r.need(1 + p - r.pos);
    c = b[p++]!;
    big |= BigInt(c & 0x7f) << shift;
    if (c < 0x80) break;
    if (shift === 63n) throw new ProtocolError('varint64 longer than 10 bytes');
  }
  r.pos = p;
  big = BigInt.asUintN(64, big);
  return (big >> 1n) ^ -(big & 1n);
}

function r_double(r: BufferReader): number {
  return r.readDoubleLE();
}

function r_string(r: BufferReader, L: DecodeLimits): string {
  const n = readSize(r);
  checkStringLength(n, L);
  r.need(n);
  const s = decodeUtf8(r.buf, r.pos, n);
  r.pos += n;
  return s;
}

function r_binary(r: BufferReader, L: DecodeLimits): Buffer {
  const n = readSize(r);
  checkStringLength(n, L);
  return r.readBytes(n);
}

/** Reads a list/set header; returns the count after checking type, limits and remaining bytes. */
function containerHeader(r: BufferReader, kind: string, elem: TypeDesc, d: number, L: DecodeLimits): number {
  if (d > L.maxDepth) throw tooDeep(L.maxDepth);
  const h = r.readU8();
  const et = h & 0x0f;
  const n = h >> 4 === 15 ? readSize(r) : h >> 4;
  if (n === 0) return 0;
  const min = MIN_BYTES[et]!;
  if (min === 0) throw unknownType(et);
  checkCount(r, n, min, L);
  if (!elemMatches(et, elem)) throw elemMismatch(kind, et, elem);
  return n;
}

function r_list(r: BufferReader, elem: TypeDesc, d: number, L: DecodeLimits): unknown[] {
  const n = containerHeader(r, 'list', elem, d, L);
  const out: unknown[] = [];
  switch (elem.kind) {
    case 'i32':
    case 'enum':
      for (let i = 0; i < n; i++) out.push(r_i32(r));
      return out;
    case 'i64':
      for (let i = 0; i < n; i++) out.push(r_i64(r));
      return out;
    case 'string':
      for (let i = 0; i < n; i++) out.push(r_string(r, L));
      return out;
    case 'struct': {
      const dec = decoderFor(COMPACT, elem.struct());
      for (let i = 0; i < n; i++) out.push(dec(r, d + 1, L));
      return out;
    }
    default:
      for (let i = 0; i < n; i++) out.push(r_value(r, elem, d + 1, L));
      return out;
  }
}

function r_set(r: BufferReader, elem: TypeDesc, d: number, L: DecodeLimits): Set<unknown> {
  const n = containerHeader(r, 'set', elem, d, L);
  const out = new Set<unknown>();
  for (let i = 0; i < n; i++) out.add(r_value(r, elem, d + 1, L));
  return out;
}

function r_map(r: BufferReader, kt: TypeDesc, vt: TypeDesc, d: number, L: DecodeLimits): Map<unknown, unknown> {
  if (d > L.maxDepth) throw tooDeep(L.maxDepth);
  const n = readSize(r);
  const out = new Map<unknown, unknown>();
  if (n === 0) return out;
  const kv = r.readU8();
  const kw = kv >> 4;
  const vw = kv & 0x0f;
  const kmin = MIN_BYTES[kw]!;
  const vmin = MIN_BYTES[vw]!;
  if (kmin === 0) throw unknownType(kw);
  if (vmin === 0) throw unknownType(vw);
  checkCount(r, n, kmin + vmin, L);
  if (!elemMatches(kw, kt)) throw elemMismatch('map key', kw, kt);
  if (!elemMatches(vw, vt)) throw elemMismatch('map value', vw, vt);
  for (let i = 0; i < n; i++) {
    const k = r_value(r, kt, d + 1, L);
    out.set(k, r_value(r, vt, d + 1, L));
  }
  return out;
}

function r_value(r: BufferReader, t: TypeDesc, d: number, L: DecodeLimits): unknown {
  switch (t.kind) {
    case 'bool': return r_bool(r);
    case 'byte': return r_byte(r);
    case 'i16': return r_i16(r);
    case 'i32': case 'enum': return r_i32(r);
    case 'i64': return r_i64(r);
    case 'double': return r.readDoubleLE();
    case 'string': return r_string(r, L);
    case 'binary': return r_binary(r, L);
    case 'list': return r_list(r, t.elem, d, L);
    case 'set': return r_set(r, t.elem, d, L);
    case 'map': return r_map(r, t.key, t.value, d, L);
    case 'struct': return decoderFor(COMPACT, t.struct())(r, d, L);
  }
}

function skipVarint(r: BufferReader): void {
  for (let i = 0; i < 10; i++) if (r.readU8() < 0x80) return;
  throw new ProtocolError('varint longer than 10 bytes');
}

/** Skips a field value: bools live in the field header, so they take no bytes here. */
function skipField(r: BufferReader, t: number, d: number, L: DecodeLimits): void {
  if (t === CType.BOOL_TRUE || t === CType.BOOL_FALSE) return;
  skip(r, t, d, L);
}

/** Skips one value (as found inside a container) of compact type `t` at depth `d`. */
function skip(r: BufferReader, t: number, d: number, L: DecodeLimits): void {
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
      return;
    }
    case CType.STRUCT:
      if (d > L.maxDepth) throw tooDeep(L.maxDepth);
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
      if (n === 0) return;
      const min = MIN_BYTES[et]!;
      if (min === 0) throw unknownType(et);
      checkCount(r, n, min, L);
      const fixed = FIXED_BYTES[et]!;
      if (fixed !== 0) return r.skip(n * fixed);
      for (let i = 0; i < n; i++) skip(r, et, d + 1, L);
      return;
    }
    case CType.MAP: {
      if (d > L.maxDepth) throw tooDeep(L.maxDepth);
      const n = readSize(r);
      if (n === 0) return;
      const kv = r.readU8();
      const kw = kv >> 4;
      const vw = kv & 0x0f;
      const kmin = MIN_BYTES[kw]!;
      const vmin = MIN_BYTES[vw]!;
      if (kmin === 0) throw unknownType(kw);
      if (vmin === 0) throw unknownType(vw);
      checkCount(r, n, kmin + vmin, L);
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
  fh, stop, badBool, w_bool, w_byte, w_i16, w_i32, w_i64, w_double, w_string, w_binary, w_value,
  u8, r_bool, r_byte, r_i16, r_i32, r_i64, r_double, r_string, r_binary, r_value, skip: skipField,
  enc: (desc: StructDesc) => encoderFor(COMPACT, desc),
  dec: (desc: StructDesc) => decoderFor(COMPACT, desc),
};

const COMPACT: Dialect = {
  name: 'compact',
  P,
  encPrologue: 'let last = 0;',
  fieldHeader: (f: FieldDesc) => `last = P.fh(w, ${compactWireType(f.type)}, ${f.id}, last);`,
  boolField: (f: FieldDesc) =>
    `if (typeof x !== 'boolean') throw P.badBool(x); last = P.fh(w, x ? ${CType.BOOL_TRUE} : ${CType.BOOL_FALSE}, ${f.id}, last);`,
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
  private readonly limits: DecodeLimits;

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

  readMessageHeader(r: BufferReader): MessageHeader {
    const id = r.readU8();
    if (id !== PROTOCOL_ID) throw new ProtocolError(`not a compact protocol message (first byte 0x${id.toString(16)}, expected 0x82)`);
    const vt = r.readU8();
    if ((vt & 0x1f) !== VERSION) throw new ProtocolError(`unsupported compact protocol version ${vt & 0x1f}`);
    const seqid = readVarint32(r);
    const name = r_string(r, this.limits);
    return { name, type: checkMessageType((vt >> 5) & 0x07), seqid };
  }

  writeStruct(w: BufferWriter, desc: StructDesc, value: object): void {
    encoderFor(COMPACT, desc)(w, value, 1);
  }

  readStruct(r: BufferReader, desc: StructDesc): object {
    return decoderFor(COMPACT, desc)(r, 1, this.limits);
  }

  skipStruct(r: BufferReader): void {
    skip(r, CType.STRUCT, 1, this.limits);
  }
}

export function compactProtocol(opts: CompactProtocolOptions = {}): ThriftProtocol {
  return new CompactProtocolImpl(opts);
}

/** The default compact protocol (default limits). */
export const CompactProtocol: ThriftProtocol = compactProtocol();
