/**
 * MessagePack as ZeroRPC peers speak it (Python's `use_bin_type=True`): str and bin apart
 * (strings ⇄ str, Uint8Array/Buffer ⇄ bin), integers in their smallest form, 64-bit integers as
 * numbers when safe and BigInt otherwise (never a float), `undefined` as nil, floats as float64.
 *
 * Hand-written over one reusable Buffer rather than @msgpack/msgpack's Encoder/Decoder: those
 * cost ~2.4 µs to encode and ~1–1.6 µs to decode a small event (a DataView and a copy per call,
 * the extension codec tried on every object), several µs of every call's CPU on each side.
 * Only timestamps and other ext types go through @msgpack/msgpack's own codec.
 */
import { ExtData, ExtensionCodec } from '@msgpack/msgpack';
import { ProtocolError } from '../../core/errors.js';

/** Default largest ZeroMQ message (one event) accepted: 16 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

/** Deepest nesting written (as @msgpack/msgpack: a cycle fails here) and read (hostile input). */
const MAX_ENCODE_DEPTH = 100;
const MAX_DECODE_DEPTH = 512;

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const TWO_32 = 0x1_0000_0000;
/** Map keys up to this many bytes are cached (decoded once, compared after), in this many slots. */
const MAX_CACHED_KEY = 24;
const KEY_SLOTS = 64;
/** Maps of up to this many entries remember their keys' order (see `MapShape`), in this many slots. */
const MAX_SHAPE_KEYS = 16;
const SHAPE_SLOTS = 64;
/** A shape that failed this many maps in a row gives its slot to the next map decoded there. */
const SHAPE_PATIENCE = 8;
/** Strings up to this many UTF-16 units (fixstr at most 31 bytes) are written by a JS loop when ASCII (a native call costs more). */
const SHORT_STRING = 31;

// ---- writing -----------------------------------------------------------------------------------

/**
 * Encodes values into one growing buffer. `start()` then `value()`s (or the raw helpers), then
 * `take()` (a copy) or `view()` (valid until the next `start()`).
 */
export class PackWriter {
  buf: Buffer;
  pos = 0;

  constructor(size = 8192) {
    this.buf = Buffer.allocUnsafe(size);
  }

  start(): void {
    this.pos = 0;
  }

  /** A copy of what was written since `start()`. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  /** What was written since `start()`, shared: overwritten by the next encode. */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  ensure(n: number): void {
    // The check alone inlines into every writer; the growth is a call (see BufferWriter.ensure).
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** Bytes as they are (precomputed msgpack). */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  arrayHeader(n: number): void {
    this.ensure(5);
    const b = this.buf;
    if (n < 16) b[this.pos++] = 0x90 | n;
    else if (n < 0x10000) {
      b[this.pos] = 0xdc;
      b.writeUInt16BE(n, this.pos + 1);
      this.pos += 3;
    } else {
      b[this.pos] = 0xdd;
      b.writeUInt32BE(n, this.pos + 1);
      this.pos += 5;
    }
  }

  mapHeader(n: number): void {
    this.ensure(5);
    const b = this.buf;
    if (n < 16) b[this.pos++] = 0x80 | n;
    else if (n < 0x10000) {
      b[this.pos] = 0xde;
      b.writeUInt16BE(n, this.pos + 1);
      this.pos += 3;
    } else {
      b[this.pos] = 0xdf;
      b.writeUInt32BE(n, this.pos + 1);
      this.pos += 5;
    }
  }

  string(s: string): void {
    const n = s.length;
    if (n <= SHORT_STRING) {
      // ASCII in a JS loop, header known (fixstr); the first non-ASCII unit falls back below.
      this.ensure(n + 1);
      const b = this.buf;
      const at = this.pos;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[at + 1 + i] = c;
      }
      if (i === n) {
        b[at] = 0xa0 | n;
        this.pos = at + 1 + n;
        return;
      }
    }
    const size = Buffer.byteLength(s, 'utf8');
    this.ensure(size + 5);
    const b = this.buf;
    if (size < 32) b[this.pos++] = 0xa0 | size;
    else if (size < 0x100) {
      b[this.pos++] = 0xd9;
      b[this.pos++] = size;
    } else if (size < 0x10000) {
      b[this.pos] = 0xda;
      b.writeUInt16BE(size, this.pos + 1);
      this.pos += 3;
    } else if (size < TWO_32) {
      b[this.pos] = 0xdb;
      b.writeUInt32BE(size, this.pos + 1);
      this.pos += 5;
    } else throw new RangeError(`string of ${size} bytes is too long for msgpack`);
    this.pos += b.utf8Write(s, this.pos, size);
  }

  binary(v: Uint8Array): void {
    const size = v.byteLength;
    this.ensure(size + 5);
    const b = this.buf;
    if (size < 0x100) {
      b[this.pos++] = 0xc4;
      b[this.pos++] = size;
    } else if (size < 0x10000) {
      b[this.pos] = 0xc5;
      b.writeUInt16BE(size, this.pos + 1);
      this.pos += 3;
    } else if (size < TWO_32) {
      b[this.pos] = 0xc6;
      b.writeUInt32BE(size, this.pos + 1);
      this.pos += 5;
    } else throw new RangeError(`binary of ${size} bytes is too long for msgpack`);
    b.set(v, this.pos);
    this.pos += size;
  }

  number(v: number): void {
    this.ensure(9);
    const b = this.buf;
    let p = this.pos;
    if (!Number.isSafeInteger(v)) {
      b[p] = 0xcb;
      b.writeDoubleBE(v, p + 1);
      this.pos = p + 9;
      return;
    }
    if (v >= 0) {
      if (v < 0x80) b[p++] = v;
      else if (v < 0x100) {
        b[p++] = 0xcc;
        b[p++] = v;
      } else if (v < 0x10000) {
        b[p] = 0xcd;
        b.writeUInt16BE(v, p + 1);
        p += 3;
      } else if (v < TWO_32) {
        b[p] = 0xce;
        b.writeUInt32BE(v, p + 1);
        p += 5;
      } else {
        b[p] = 0xcf;
        b.writeUInt32BE(Math.floor(v / TWO_32), p + 1);
        b.writeUInt32BE(v >>> 0, p + 5);
        p += 9;
      }
    } else if (v >= -0x20) b[p++] = 0xe0 | (v + 0x20);
    else if (v >= -0x80) {
      b[p] = 0xd0;
      b.writeInt8(v, p + 1);
      p += 2;
    } else if (v >= -0x8000) {
      b[p] = 0xd1;
      b.writeInt16BE(v, p + 1);
      p += 3;
    } else if (v >= -0x8000_0000) {
      b[p] = 0xd2;
      b.writeInt32BE(v, p + 1);
      p += 5;
    } else {
      b[p] = 0xd3;
      b.writeBigInt64BE(BigInt(v), p + 1);
      p += 9;
    }
    this.pos = p;
  }

  bigint(v: bigint): void {
    // Safe values in their smallest form, as Python sends them; beyond, uint64/int64 exactly.
    if (v <= MAX_SAFE && v >= MIN_SAFE) return this.number(Number(v));
    if (v > U64_MAX || v < I64_MIN) throw new RangeError(`BigInt ${v} does not fit in 64 bits`);
    this.ensure(9);
    if (v > 0n) {
      this.buf[this.pos] = 0xcf;
      this.buf.writeBigUInt64BE(v, this.pos + 1);
    } else {
      this.buf[this.pos] = 0xd3;
      this.buf.writeBigInt64BE(v, this.pos + 1);
    }
    this.pos += 9;
  }

  /** Any value (see the module comment for the mapping). Throws on what msgpack cannot carry. */
  value(v: unknown, depth = 0): void {
    switch (typeof v) {
      case 'string':
        return this.string(v);
      case 'number':
        return this.number(v);
      case 'boolean':
        return this.byte(v ? 0xc3 : 0xc2);
      case 'undefined':
        return this.byte(0xc0);
      case 'bigint':
        return this.bigint(v);
      case 'object':
        if (v === null) return this.byte(0xc0);
        if (depth >= MAX_ENCODE_DEPTH) throw new RangeError(`msgpack: values nested deeper than ${MAX_ENCODE_DEPTH} (a cycle?)`);
        // Plain objects first: the usual argument, and every check below is a call.
        if (Object.getPrototypeOf(v) === Object.prototype) return this.object(v as Record<string, unknown>, depth);
        if (Array.isArray(v)) {
          const n = v.length;
          this.arrayHeader(n);
          for (let i = 0; i < n; i++) this.value(v[i], depth + 1);
          return;
        }
        if (v instanceof Uint8Array) return this.binary(v);
        if (ArrayBuffer.isView(v)) return this.binary(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
        if (v instanceof ArrayBuffer) return this.binary(new Uint8Array(v));
        if (v instanceof Date || v instanceof ExtData) return this.ext(v);
        if (v instanceof Map) return this.jsMap(v, depth);
        return this.object(v as Record<string, unknown>, depth);
      default:
        throw new TypeError(`msgpack cannot encode a ${typeof v}`);
    }
  }

  /** A plain object (or any object): its own enumerable keys as str, undefined values as nil. */
  object(o: Record<string, unknown>, depth: number): void {
    // A plain object's keys by for…in: V8's enum cache, no key array (Object.keys makes one per
    // object: ~100 bytes of garbage, and ~30 % slower here). Only where for…in sees the same
    // keys: the prototype is Object.prototype, with no enumerable keys of its own (a polluted
    // prototype must never reach the wire).
    if (Object.getPrototypeOf(o) === Object.prototype && !enumerableKeys(Object.prototype)) {
      // One pass: a 1-byte header is reserved and set after; a map of 16 keys or more moves
      // its entries on to make room for the longer header.
      this.ensure(1);
      const at = this.pos++;
      let n = 0;
      for (const k in o) {
        this.string(k);
        this.value(o[k], depth + 1);
        n++;
      }
      if (n < 16) this.buf[at] = 0x80 | n;
      else {
        const body = this.pos - at - 1;
        const extra = n < 0x10000 ? 2 : 4;
        this.ensure(extra);
        this.buf.copyWithin(at + 1 + extra, at + 1, at + 1 + body);
        this.pos = at;
        this.mapHeader(n);
        this.pos += body;
      }
      return;
    }
    const keys = Object.keys(o);
    const n = keys.length;
    this.mapHeader(n);
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      this.string(k);
      this.value(o[k], depth + 1);
    }
  }

  /** A JavaScript Map: keys as str (never integer keys, which msgpack ≥ 1.0 in Python rejects). */
  private jsMap(m: Map<unknown, unknown>, depth: number): void {
    this.mapHeader(m.size);
    for (const [k, v] of m) {
      this.string(typeof k === 'string' ? k : String(k));
      this.value(v, depth + 1);
    }
  }

  /** Timestamps and ExtData, through @msgpack/msgpack's codec. */
  private ext(v: Date | ExtData): void {
    const e = v instanceof ExtData ? v : ExtensionCodec.defaultCodec.tryToEncode(v, undefined);
    if (e === null || typeof e.data === 'function') throw new TypeError('msgpack cannot encode this extension value');
    const size = e.data.length;
    this.ensure(size + 6);
    const fixed = size === 1 ? 0xd4 : size === 2 ? 0xd5 : size === 4 ? 0xd6 : size === 8 ? 0xd7 : size === 16 ? 0xd8 : 0;
    if (fixed !== 0) this.buf[this.pos++] = fixed;
    else if (size < 0x100) {
      this.buf[this.pos++] = 0xc7;
      this.buf[this.pos++] = size;
    } else if (size < 0x10000) {
      this.buf[this.pos] = 0xc8;
      this.buf.writeUInt16BE(size, this.pos + 1);
      this.pos += 3;
    } else {
      this.buf[this.pos] = 0xc9;
      this.buf.writeUInt32BE(size, this.pos + 1);
      this.pos += 5;
    }
    this.buf.writeInt8(e.type, this.pos++);
    this.buf.set(e.data, this.pos);
    this.pos += size;
  }
}

/** Whether `o` has enumerable string keys (for…in over an object without any is one check). */
function enumerableKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

const writer = new PackWriter();

/** Encodes one value (a fresh buffer). Throws (a TypeError, a RangeError) on what MessagePack cannot carry. */
export function pack(value: unknown): Buffer {
  writer.start();
  writer.value(value);
  return writer.take();
}

// ---- reading -----------------------------------------------------------------------------------

/**
 * Reads msgpack from one buffer, bounded: a str/bin/ext longer than `maxBytes`, an array or map
 * claiming more elements than bytes are left (each takes at least one), nesting deeper than 512,
 * truncation and trailing bytes all throw ProtocolError before anything large is allocated.
 * bin values are views of the input (no copy).
 */
const EMPTY = Buffer.alloc(0);

export class PackReader {
  buf: Buffer = EMPTY;
  pos = 0;
  end = 0;
  /** Map keys seen lately, by a hash of their bytes: the same few keys come in every event. */
  private readonly keyText: (string | undefined)[] = new Array<string | undefined>(KEY_SLOTS).fill(undefined);
  private readonly keyBytes: (Buffer | undefined)[] = new Array<Buffer | undefined>(KEY_SLOTS).fill(undefined);
  /** Key orders seen lately, by the map's first bytes (see `MapShape`): the same few come in every event. */
  private readonly shapes: (MapShape | undefined)[] = new Array<MapShape | undefined>(SHAPE_SLOTS).fill(undefined);

  constructor(readonly maxBytes: number = DEFAULT_MAX_MESSAGE_SIZE) {}

  /** Reads bytes [start, end) of `buf` from now on (the whole of it by default). */
  reset(buf: Uint8Array, start = 0, end = buf.length): void {
    this.buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
    this.end = end;
  }

  /** Throws unless the whole input was read; lets go of the input (a large message is not kept until the next). */
  done(): void {
    if (this.pos !== this.end) throw new ProtocolError(`msgpack: ${this.end - this.pos} bytes after the value`);
    this.buf = EMPTY;
  }

  private need(n: number): void {
    if (this.end - this.pos < n) throw new ProtocolError('msgpack: truncated');
  }

  private length(n: number, what: string): number {
    if (n > this.maxBytes) throw new ProtocolError(`msgpack ${what} of ${n} bytes exceeds the limit of ${this.maxBytes}`);
    this.need(n);
    return n;
  }

  /** An array header's count, or -1 (nothing consumed) if the next value is not an array. */
  arrayHeader(): number {
    return this.containerHeader(0x90, 0xdc, 1, 'array claims', 'elements');
  }

  /** A map header's count, or -1 (nothing consumed) if the next value is not a map. */
  mapHeader(): number {
    return this.containerHeader(0x80, 0xde, 2, 'map claims', 'entries');
  }

  /**
   * The count of a container whose fix form is `fix`..`fix` + 15 and whose 16- and 32-bit forms
   * are `op16` and `op16` + 1; each item needs at least `minBytes` more bytes, so a count the
   * message cannot hold is refused before anything is allocated for it.
   */
  private containerHeader(fix: number, op16: number, minBytes: number, claims: string, items: string): number {
    this.need(1);
    const h = this.buf[this.pos++]!;
    let n: number;
    if (h >= fix && h <= fix + 0x0f) n = h & 0x0f;
    else if (h === op16) {
      this.need(2);
      n = this.buf.readUInt16BE(this.pos);
      this.pos += 2;
    } else if (h === op16 + 1) {
      this.need(4);
      n = this.buf.readUInt32BE(this.pos);
      this.pos += 4;
    } else {
      this.pos--;
      return -1;
    }
    if (n * minBytes > this.end - this.pos) throw new ProtocolError(`msgpack ${claims} ${n} ${items}, ${this.end - this.pos} bytes left`);
    return n;
  }

  /** A str's UTF-8 bytes [start, end) if the next value is a str (consumed), else undefined. */
  strBounds(): number {
    this.need(1);
    const h = this.buf[this.pos]!;
    let n: number;
    let hdr: number;
    if (h >= 0xa0 && h <= 0xbf) {
      n = h & 0x1f;
      hdr = 1;
    } else if (h === 0xd9) {
      this.need(2);
      n = this.buf[this.pos + 1]!;
      hdr = 2;
    } else if (h === 0xda) {
      this.need(3);
      n = this.buf.readUInt16BE(this.pos + 1);
      hdr = 3;
    } else if (h === 0xdb) {
      this.need(5);
      n = this.buf.readUInt32BE(this.pos + 1);
      hdr = 5;
    } else return -1;
    this.pos += hdr;
    this.length(n, 'str');
    return n;
  }

  /** Skips a str or bin (bounded as when read, no value made); false (nothing read) for any other type. */
  skipBytes(): boolean {
    this.need(1);
    const h = this.buf[this.pos]!;
    if (h === 0xc4 || h === 0xc5 || h === 0xc6) {
      this.pos++;
      const w = h === 0xc4 ? 1 : h === 0xc5 ? 2 : 4;
      this.need(w);
      const n = this.length(w === 1 ? this.buf[this.pos++]! : w === 2 ? this.u16() : this.u32(), 'bin');
      this.pos += n;
      return true;
    }
    const n = this.strBounds();
    if (n < 0) return false;
    this.pos += n;
    return true;
  }

  /** Skips `bytes` (precomputed msgpack) if they come next; false (nothing read) if not. */
  skipIf(bytes: Uint8Array): boolean {
    const n = bytes.length;
    if (this.end - this.pos < n) return false;
    const b = this.buf;
    const at = this.pos;
    for (let i = 0; i < n; i++) if (b[at + i] !== bytes[i]) return false;
    this.pos = at + n;
    return true;
  }

  /** `n` bytes at the position as a string. */
  text(n: number): string {
    const b = this.buf;
    const start = this.pos;
    this.pos = start + n;
    if (n <= 16) {
      // Short ASCII (keys, names) without a native call.
      let s = '';
      for (let i = start; i < start + n; i++) {
        const c = b[i]!;
        if (c >= 0x80) return b.utf8Slice(start, start + n);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return b.utf8Slice(start, start + n);
  }

  value(depth = 0): unknown {
    this.need(1);
    const b = this.buf;
    const h = b[this.pos]!;
    if (h < 0x80) {
      this.pos++;
      return h;
    }
    if (h >= 0xe0) {
      this.pos++;
      return h - 0x100;
    }
    if (h >= 0xa0 && h <= 0xbf) {
      const n = this.strBounds();
      return this.text(n);
    }
    if (h <= 0x9f) {
      if (depth >= MAX_DECODE_DEPTH) throw new ProtocolError(`msgpack nested deeper than ${MAX_DECODE_DEPTH}`);
      if (h >= 0x90) return this.array(this.arrayHeader(), depth);
      return this.map(this.mapHeader(), depth);
    }
    this.pos++;
    switch (h) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
      case 0xc5:
      case 0xc6: {
        const w = h === 0xc4 ? 1 : h === 0xc5 ? 2 : 4;
        this.need(w);
        const n = this.length(w === 1 ? b[this.pos++]! : w === 2 ? this.u16() : this.u32(), 'bin');
        const v = b.subarray(this.pos, this.pos + n);
        this.pos += n;
        return v;
      }
      case 0xca:
        this.need(4);
        this.pos += 4;
        return b.readFloatBE(this.pos - 4);
      case 0xcb:
        this.need(8);
        this.pos += 8;
        return b.readDoubleBE(this.pos - 8);
      case 0xcc:
        this.need(1);
        return b[this.pos++]!;
      case 0xcd:
        this.need(2);
        return this.u16();
      case 0xce:
        this.need(4);
        return this.u32();
      case 0xcf: {
        this.need(8);
        const hi = this.u32();
        const lo = this.u32();
        if (hi < 0x20_0000) return hi * TWO_32 + lo;
        return (BigInt(hi) << 32n) | BigInt(lo);
      }
      case 0xd0:
        this.need(1);
        return b.readInt8(this.pos++);
      case 0xd1:
        this.need(2);
        this.pos += 2;
        return b.readInt16BE(this.pos - 2);
      case 0xd2:
        this.need(4);
        this.pos += 4;
        return b.readInt32BE(this.pos - 4);
      case 0xd3: {
        this.need(8);
        this.pos += 8;
        const v = b.readBigInt64BE(this.pos - 8);
        return v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v;
      }
      case 0xd9:
      case 0xda:
      case 0xdb: {
        this.pos--;
        return this.text(this.strBounds());
      }
      case 0xdc:
      case 0xdd:
      case 0xde:
      case 0xdf:
        this.pos--;
        if (depth >= MAX_DECODE_DEPTH) throw new ProtocolError(`msgpack nested deeper than ${MAX_DECODE_DEPTH}`);
        return h <= 0xdd ? this.array(this.arrayHeader(), depth) : this.map(this.mapHeader(), depth);
      case 0xd4:
        return this.ext(1);
      case 0xd5:
        return this.ext(2);
      case 0xd6:
        return this.ext(4);
      case 0xd7:
        return this.ext(8);
      case 0xd8:
        return this.ext(16);
      case 0xc7:
        this.need(1);
        return this.ext(b[this.pos++]!);
      case 0xc8:
        this.need(2);
        return this.ext(this.u16());
      case 0xc9:
        this.need(4);
        return this.ext(this.u32());
      default:
        throw new ProtocolError(`msgpack: unknown type byte 0x${h.toString(16)}`);
    }
  }

  private u16(): number {
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  private u32(): number {
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** `n` elements, then `spare` more left undefined (room the caller fills: no array grows). */
  array(n: number, depth: number, spare = 0): unknown[] {
    const a = new Array<unknown>(n + spare);
    for (let i = 0; i < n; i++) a[i] = this.value(depth + 1);
    for (let i = n; i < n + spare; i++) a[i] = undefined;
    return a;
  }

  /** A map as a plain object; integer keys (and nil, booleans, big ints) become their string forms. */
  map(n: number, depth: number): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    if (n === 0 || n > MAX_SHAPE_KEYS || this.end - this.pos < 2) return this.keyByKey(o, 0, n, depth);
    const slot = shapeSlot(n, this.buf, this.pos);
    const shape = this.shapes[slot];
    let i = 0;
    if (shape !== undefined && shape.keys.length === n) {
      const { keys, encoded } = shape;
      while (i < n && this.skipIf(encoded[i]!)) {
        o[keys[i]!] = this.value(depth + 1);
        i++;
      }
      if (i === n) {
        shape.misses = 0;
        return o;
      }
      // Another key order: the rest is read key by key from here. Nothing is read twice (a
      // rewind to the map's start would decode its values again, and nested maps that each
      // miss would double the work at every level).
      if (++shape.misses < SHAPE_PATIENCE) return this.keyByKey(o, i, n, depth);
      shape.misses = 0; // if this map cannot be learned, the old shape waits out more misses
    }
    return this.learn(o, i, n, depth, slot, shape);
  }

  /** Entries `from`..`n` of a map into `o`, key by key. */
  private keyByKey(o: Record<string, unknown>, from: number, n: number, depth: number): Record<string, unknown> {
    for (let i = from; i < n; i++) {
      const k = this.key(depth);
      o[k] = this.value(depth + 1);
    }
    return o;
  }

  /**
   * Entries `from`..`n` key by key (the first `from` matched `prefix`), then, if every key was a
   * short str, the map's key order is kept in `slot`.
   */
  private learn(o: Record<string, unknown>, from: number, n: number, depth: number, slot: number, prefix: MapShape | undefined): Record<string, unknown> {
    const b = this.buf;
    const keys = new Array<string>(n);
    const encoded = new Array<Buffer>(n);
    for (let i = 0; i < from; i++) {
      keys[i] = prefix!.keys[i]!;
      encoded[i] = prefix!.encoded[i]!;
    }
    let fixstrKeys = true;
    for (let i = from; i < n; i++) {
      const at = this.pos;
      const k = this.key(depth);
      // fixstr keys only (1-byte header, ≤ 31 bytes): the bytes compared are the whole key.
      if (typeof k === 'string' && b[at]! >= 0xa0 && b[at]! <= 0xbf) {
        keys[i] = k;
        encoded[i] = Buffer.from(b.subarray(at, this.pos));
      } else fixstrKeys = false;
      o[k] = this.value(depth + 1);
    }
    if (fixstrKeys) this.shapes[slot] = { keys, encoded, misses: 0 };
    return o;
  }

  key(depth: number): string | number {
    const n = this.strBounds();
    const k = n >= 0 ? this.shortText(n) : this.value(depth + 1);
    if (typeof k === 'string') {
      if (k === '__proto__') throw new ProtocolError('msgpack map key __proto__ is not allowed');
      return k;
    }
    if (typeof k === 'number') return k;
    if (typeof k === 'bigint' || typeof k === 'boolean' || k === null) return String(k);
    throw new ProtocolError('msgpack map key is not a string or a number');
  }

  /** `n` bytes of a str that recurs (a map key, an event name): short ones come from a cache. */
  shortText(n: number): string {
    return n <= MAX_CACHED_KEY ? this.cachedKey(n) : this.text(n);
  }

  /** A short str, from the cache when its bytes were seen in that slot before. */
  private cachedKey(n: number): string {
    const b = this.buf;
    const start = this.pos;
    let h = n;
    for (let i = start; i < start + n; i++) h = (h * 31 + b[i]!) | 0;
    const slot = (h ^ (h >>> 9)) & (KEY_SLOTS - 1);
    const known = this.keyBytes[slot];
    if (known !== undefined && known.length === n) {
      let i = 0;
      while (i < n && known[i] === b[start + i]) i++;
      if (i === n) {
        this.pos = start + n;
        return this.keyText[slot]!;
      }
    }
    const text = this.text(n);
    this.keyBytes[slot] = Buffer.from(b.subarray(start, start + n));
    this.keyText[slot] = text;
    return text;
  }

  private ext(size: number): unknown {
    this.length(size + 1, 'ext');
    const type = this.buf.readInt8(this.pos);
    const data = this.buf.subarray(this.pos + 1, this.pos + 1 + size);
    this.pos += 1 + size;
    try {
      return ExtensionCodec.defaultCodec.decode(data, type, undefined);
    } catch (err) {
      throw new ProtocolError(`msgpack ext type ${type}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * The keys of a map as they came, in order: the next map in its slot is checked against them
 * byte for byte, which costs less than hashing each key to find its string (280 → 205 ns for
 * a 4-key map with a float, an int, a str and an array). A copy of a template object that had
 * the keys already was no faster than adding them one by one.
 */
interface MapShape {
  readonly keys: string[];
  /** Each key as msgpack (fixstr header and bytes). */
  readonly encoded: Buffer[];
  /** Maps in a row that started in this slot with other keys. */
  misses: number;
}

/** A map's shape slot from its entry count and its first key's first bytes (there are ≥ 2). */
function shapeSlot(n: number, b: Buffer, at: number): number {
  return (n * 7 + b[at]! * 31 + b[at + 1]!) & (SHAPE_SLOTS - 1);
}

/** A decoder of whole values bounded by `maxBytes` per string/binary (the message size bounds the rest). */
export function makeUnpacker(maxBytes: number = DEFAULT_MAX_MESSAGE_SIZE): (bytes: Uint8Array) => unknown {
  const r = new PackReader(maxBytes);
  return (bytes) => {
    r.reset(bytes);
    const v = r.value();
    r.done();
    return v;
  };
}
