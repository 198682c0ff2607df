/**
 * TBinaryProtocol, byte for byte as Apache Thrift: big-endian fixed-width integers, i32 length
 * prefixes, field header = type byte + i16 id, STOP = 0. Message header is strict
 * (`0x80010000 | type`, name, seqid) on write by default; both forms are accepted on read unless
 * `strictRead`.
 */
import type { BufferReader, BufferWriter } from '../../core/bytes.js';
import { ProtocolError } from '../../core/errors.js';
import { TType, type FieldDesc, type MessageType, type StructDesc, type TypeDesc } from './descriptors.js';
import type { KnownNames } from './known-names.js';
import type { DecodeLimits, MessageHeader, ThriftProtocol } from './protocol.js';
import {
  badValue,
  charge,
  checkCount,
  COST,
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
  checkMessageArgs,
  checkMessageType,
  resolveLimits,
  startBudget,
  tooDeep,
  unknownType,
  type DecodeState,
  type Dialect,
} from './codec-shared.js';
import { HI, LO, SCR_I64, SCR_U32 } from '../../core/int64-scratch.js';

const VERSION_1 = 0x80010000 | 0;
const VERSION_MASK = 0xffff0000 | 0;

/** Fewest bytes one value of each wire type occupies (0: not a valid type). */
const MIN_BYTES: readonly number[] = (() => {
  const m = new Array<number>(256).fill(0);
  m[TType.BOOL] = 1;
  m[TType.BYTE] = 1;
  m[TType.DOUBLE] = 8;
  m[TType.I16] = 2;
  m[TType.I32] = 4;
  m[TType.I64] = 8;
  m[TType.STRING] = 4;
  m[TType.STRUCT] = 1;
  m[TType.MAP] = 6;
  m[TType.SET] = 5;
  m[TType.LIST] = 5;
  m[TType.UUID] = 16;
  return m;
})();

/** Exact size of fixed-width wire types (0: variable). */
const FIXED_BYTES: readonly number[] = (() => {
  const m = new Array<number>(256).fill(0);
  for (const t of [TType.BOOL, TType.BYTE, TType.DOUBLE, TType.I16, TType.I32, TType.I64, TType.UUID]) m[t] = MIN_BYTES[t]!;
  return m;
})();

export function binaryWireType(t: TypeDesc): number {
  switch (t.kind) {
    case 'bool':
      return TType.BOOL;
    case 'byte':
      return TType.BYTE;
    case 'i16':
      return TType.I16;
    case 'i32':
    case 'enum':
      return TType.I32;
    case 'i64':
      return TType.I64;
    case 'double':
      return TType.DOUBLE;
    case 'string':
    case 'binary':
      return TType.STRING;
    case 'struct':
      return TType.STRUCT;
    case 'map':
      return TType.MAP;
    case 'set':
      return TType.SET;
    case 'list':
      return TType.LIST;
  }
}

// ---- writers ------------------------------------------------------------------------------

function putI32(w: BufferWriter, v: number): void {
  w.ensure(4);
  const b = w.buf;
  const p = w.pos;
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
  w.pos = p + 4;
}

function stop(w: BufferWriter): void {
  w.ensure(1);
  w.buf[w.pos++] = 0;
}

function w_bool(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'boolean') throw badValue('bool', v);
  w.ensure(1);
  w.buf[w.pos++] = v ? 1 : 0;
}

function w_byte(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'number' || (v << 24) >> 24 !== v) throw badValue('byte (integer in [-128, 127])', v);
  w.ensure(1);
  w.buf[w.pos++] = v;
}

function w_i16(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'number' || (v << 16) >> 16 !== v) throw badValue('i16 (integer in [-32768, 32767])', v);
  w.ensure(2);
  const b = w.buf;
  const p = w.pos;
  b[p] = v >> 8;
  b[p + 1] = v;
  w.pos = p + 2;
}

function w_i32(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'number' || (v | 0) !== v) throw badValue('i32 (32-bit integer)', v);
  putI32(w, v);
}

function w_i64(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'bigint' || v < I64_MIN || v > I64_MAX) throw badValue('i64 (bigint in signed 64-bit range)', v);
  SCR_I64[0] = v;
  const hi = SCR_U32[HI]!;
  const lo = SCR_U32[LO]!;
  w.ensure(8);
  const b = w.buf;
  const p = w.pos;
  b[p] = hi >>> 24;
  b[p + 1] = hi >>> 16;
  b[p + 2] = hi >>> 8;
  b[p + 3] = hi;
  b[p + 4] = lo >>> 24;
  b[p + 5] = lo >>> 16;
  b[p + 6] = lo >>> 8;
  b[p + 7] = lo;
  w.pos = p + 8;
}

function w_double(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'number') throw badValue('double (number)', v);
  w.writeDouble(v);
}

function w_string(w: BufferWriter, v: unknown): void {
  if (typeof v !== 'string') throw badValue('string', v);
  const len = v.length;
  if (len > 65536) {
    // Do not reserve 3 bytes per unit for big strings: measure them.
    const n = Buffer.byteLength(v, 'utf8');
    putI32(w, n);
    w.ensure(n);
    w.pos += w.buf.utf8Write(v, w.pos);
    return;
  }
  w.ensure(4 + len * 3);
  const b = w.buf;
  const at = w.pos;
  const n = encodeUtf8(b, at + 4, v);
  b[at] = n >>> 24;
  b[at + 1] = n >>> 16;
  b[at + 2] = n >>> 8;
  b[at + 3] = n;
  w.pos = at + 4 + n;
}

function w_binary(w: BufferWriter, v: unknown): void {
  if (!(v instanceof Uint8Array)) throw badValue('binary (Buffer or Uint8Array)', v);
  putI32(w, v.length);
  w.writeBytes(v);
}

/** A whole list<i32>: one capacity check, then plain stores. */
function wl_i32(w: BufferWriter, a: unknown[]): void {
  const n = a.length;
  w.ensure(4 * n);
  const b = w.buf;
  let p = w.pos;
  for (let i = 0; i < n; i++) {
    const v = a[i];
    if (typeof v !== 'number' || (v | 0) !== v) throw badValue('i32 (32-bit integer)', v);
    b[p] = v >>> 24;
    b[p + 1] = v >>> 16;
    b[p + 2] = v >>> 8;
    b[p + 3] = v;
    p += 4;
  }
  w.pos = p;
}

function listBegin(w: BufferWriter, elemWire: number, n: number, d: number): void {
  if (d > ENCODE_MAX_DEPTH) throw encodeTooDeep();
  w.ensure(5);
  w.buf[w.pos++] = elemWire;
  putI32(w, n);
}

function mapBegin(w: BufferWriter, keyWire: number, valueWire: number, n: number, d: number): void {
  if (d > ENCODE_MAX_DEPTH) throw encodeTooDeep();
  w.ensure(6);
  w.buf[w.pos++] = keyWire;
  w.buf[w.pos++] = valueWire;
  putI32(w, n);
}

// ---- readers ------------------------------------------------------------------------------

function u8(r: BufferReader): number {
  return r.readU8();
}

function r_bool(r: BufferReader): boolean {
  return r.readU8() !== 0;
}

function r_byte(r: BufferReader): number {
  return (r.readU8() << 24) >> 24;
}

function r_i16(r: BufferReader): number {
  r.need(2);
  const b = r.buf;
  const p = r.pos;
  r.pos = p + 2;
  return (((b[p]! << 8) | b[p + 1]!) << 16) >> 16;
}

function r_i32(r: BufferReader): number {
  r.need(4);
  const b = r.buf;
  const p = r.pos;
  r.pos = p + 4;
  return (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
}

function r_i64(r: BufferReader): bigint {
  r.need(8);
  const b = r.buf;
  const p = r.pos;
  r.pos = p + 8;
  SCR_U32[HI] = (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
  SCR_U32[LO] = (b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!;
  return SCR_I64[0]!;
}

function r_double(r: BufferReader): number {
  return r.readDouble();
}

function r_string(r: BufferReader, L: DecodeState): string {
  const n = r_i32(r);
  checkStringLength(n, L);
  r.need(n);
  const s = decodeUtf8(r.buf, r.pos, n);
  r.pos += n;
  return s;
}

/** A message name of `n` bytes: a known one without decoding. */
function r_name(r: BufferReader, L: DecodeState, n: number, known: KnownNames | undefined): string {
  checkStringLength(n, L);
  r.need(n);
  const s = known?.find(r.buf, r.pos, n) ?? decodeUtf8(r.buf, r.pos, n);
  r.pos += n;
  return s;
}

function r_binary(r: BufferReader, L: DecodeState): Buffer {
  const n = r_i32(r);
  checkStringLength(n, L);
  return r.readBytes(n);
}

/** A whole list<i32>; listHead already proved 4n bytes remain. */
function rl_i32(r: BufferReader, n: number): number[] {
  const b = r.buf;
  let p = r.pos;
  const out: number[] = new Array<number>(n); // final size: see the list case of Gen.read
  for (let i = 0; i < n; i++, p += 4) out[i] = (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
  r.pos = p;
  return out;
}

/** Reads a list/set header; returns the count after checking type, limits and remaining bytes. */
function listHead(r: BufferReader, elemWire: number, d: number, L: DecodeState): number {
  if (d > L.maxDepth) throw tooDeep(L.maxDepth);
  r.need(5);
  const et = r.buf[r.pos++]!;
  const n = r_i32(r);
  if (n === 0) return 0;
  const min = MIN_BYTES[et]!;
  if (min === 0) throw unknownType(et);
  checkCount(r, n, min, L);
  if (et !== elemWire) throw elemMismatch('list/set element', et, elemWire);
  return n;
}

function mapHead(r: BufferReader, keyWire: number, valueWire: number, d: number, L: DecodeState): number {
  if (d > L.maxDepth) throw tooDeep(L.maxDepth);
  r.need(6);
  const kw = r.buf[r.pos++]!;
  const vw = r.buf[r.pos++]!;
  const n = r_i32(r);
  if (n === 0) return 0;
  const kmin = MIN_BYTES[kw]!;
  const vmin = MIN_BYTES[vw]!;
  if (kmin === 0) throw unknownType(kw);
  if (vmin === 0) throw unknownType(vw);
  checkCount(r, n, kmin + vmin, L);
  if (kw !== keyWire) throw elemMismatch('map key', kw, keyWire);
  if (vw !== valueWire) throw elemMismatch('map value', vw, valueWire);
  return n;
}

/** Skips one value of wire type `t` at depth `d`, under the same limits as decoding. */
function skip(r: BufferReader, t: number, d: number, L: DecodeState): void {
  switch (t) {
    case TType.BOOL:
    case TType.BYTE:
    case TType.I16:
    case TType.I32:
    case TType.I64:
    case TType.DOUBLE:
    case TType.UUID:
      r.skip(FIXED_BYTES[t]!);
      return;
    case TType.STRING: {
      const n = r_i32(r);
      checkStringLength(n, L);
      r.skip(n);
      charge(L, COST.STRING);
      return;
    }
    case TType.STRUCT:
      if (d > L.maxDepth) throw tooDeep(L.maxDepth);
      charge(L, COST.STRUCT);
      for (;;) {
        const ft = r.readU8();
        if (ft === TType.STOP) return;
        r.skip(2);
        skip(r, ft, d + 1, L);
      }
    case TType.LIST:
    case TType.SET: {
      if (d > L.maxDepth) throw tooDeep(L.maxDepth);
      r.need(5);
      const et = r.buf[r.pos++]!;
      const n = r_i32(r);
      charge(L, COST.LIST);
      if (n === 0) return;
      const min = MIN_BYTES[et]!;
      if (min === 0) throw unknownType(et);
      checkCount(r, n, min, L);
      charge(L, n * (COST.LIST_SLOT + (et === TType.I64 ? COST.I64 : 0)));
      const fixed = FIXED_BYTES[et]!;
      if (fixed !== 0) return r.skip(n * fixed);
      for (let i = 0; i < n; i++) skip(r, et, d + 1, L);
      return;
    }
    case TType.MAP: {
      if (d > L.maxDepth) throw tooDeep(L.maxDepth);
      r.need(6);
      const kw = r.buf[r.pos++]!;
      const vw = r.buf[r.pos++]!;
      const n = r_i32(r);
      charge(L, COST.MAP);
      if (n === 0) return;
      const kmin = MIN_BYTES[kw]!;
      const vmin = MIN_BYTES[vw]!;
      if (kmin === 0) throw unknownType(kw);
      if (vmin === 0) throw unknownType(vw);
      checkCount(r, n, kmin + vmin, L);
      charge(L, n * (COST.MAP_ENTRY + (kw === TType.I64 ? COST.I64 : 0) + (vw === TType.I64 ? COST.I64 : 0)));
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
  stop,
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
  wl_i32,
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
  rl_i32,
  skip,
  enc: (desc: StructDesc) => encoderFor(BINARY, desc),
  dec: (desc: StructDesc) => decoderFor(BINARY, desc),
};

/**
 * A field header as generated code: its 3 bytes are constants, written in place. As a call to
 * `fh(w, type, id)` it used up the encoder's inlining budget, and the capacity checks after it stayed calls.
 */
function fieldHeaderInPlace(type: number, id: number): string {
  return `if (w.pos + 3 > w.buf.length) w.ensure(3); w.buf[w.pos] = ${type}; w.buf[w.pos + 1] = ${(id >> 8) & 0xff}; w.buf[w.pos + 2] = ${id & 0xff}; w.pos += 3;`;
}

const BINARY: Dialect = {
  name: 'binary',
  encKey: Symbol('scales.thrift.binary.encode'),
  decKey: Symbol('scales.thrift.binary.decode'),
  P,
  elemWire: binaryWireType,
  encPrologue: '',
  fieldHeader: (f: FieldDesc) => fieldHeaderInPlace(binaryWireType(f.type), f.id),
  boolField: (f: FieldDesc) => `${fieldHeaderInPlace(TType.BOOL, f.id)} P.w_bool(w, x);`,
  decPrologue: '',
  decHead: `t = P.u8(r); if (t === 0) break; id = P.r_i16(r);`,
  match: (t: TypeDesc) => `t === ${binaryWireType(t)}`,
  readBool: 'P.r_bool(r)',
};

// ---- the protocol -------------------------------------------------------------------------

export interface BinaryProtocolOptions {
  /** Write the versioned message header (default true, as every current Apache library). */
  strictWrite?: boolean;
  /** Reject the old unversioned header (default false: accept both). */
  strictRead?: boolean;
  limits?: Partial<DecodeLimits>;
}

class BinaryProtocolImpl implements ThriftProtocol {
  readonly name = 'binary';
  private readonly strictWrite: boolean;
  private readonly strictRead: boolean;
  private readonly limits: DecodeState;

  constructor(opts: BinaryProtocolOptions) {
    this.strictWrite = opts.strictWrite ?? true;
    this.strictRead = opts.strictRead ?? false;
    this.limits = resolveLimits(opts.limits);
  }

  writeMessageHeader(w: BufferWriter, name: string, type: MessageType, seqid: number): void {
    checkMessageArgs(name, type, seqid);
    if (this.strictWrite) {
      putI32(w, VERSION_1 | type);
      w_string(w, name);
    } else {
      w_string(w, name);
      w.writeU8(type);
    }
    putI32(w, seqid);
  }

  readMessageHeader(r: BufferReader, known?: KnownNames): MessageHeader {
    startBudget(r, this.limits);
    const first = r_i32(r);
    let name: string;
    let type: number;
    if (first < 0) {
      if ((first & VERSION_MASK) !== VERSION_1) throw new ProtocolError(`bad binary protocol version 0x${(first >>> 0).toString(16)}`);
      type = first & 0xff;
      name = r_name(r, this.limits, r_i32(r), known);
    } else {
      if (this.strictRead) throw new ProtocolError('message has no protocol version (non-strict binary header) and strictRead is on');
      name = r_name(r, this.limits, first, known);
      type = r.readU8();
    }
    const seqid = r_i32(r);
    return { name, type: checkMessageType(type), seqid };
  }

  writeStruct(w: BufferWriter, desc: StructDesc, value: object): void {
    encoderFor(BINARY, desc)(w, value, 1);
  }

  readStruct(r: BufferReader, desc: StructDesc): object {
    startBudget(r, this.limits);
    return decoderFor(BINARY, desc)(r, 1, this.limits);
  }

  skipStruct(r: BufferReader): void {
    startBudget(r, this.limits);
    skip(r, TType.STRUCT, 1, this.limits);
  }
}

export function binaryProtocol(opts: BinaryProtocolOptions = {}): ThriftProtocol {
  return new BinaryProtocolImpl(opts);
}

/** The default binary protocol (strict write, lenient read, default limits). */
export const BinaryProtocol: ThriftProtocol = binaryProtocol();
