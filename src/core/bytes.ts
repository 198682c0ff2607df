/**
 * Growable byte writer and bounds-checked reader shared by every codec and transport.
 * Hot path: keep these monomorphic, no closures, no per-call allocation beyond growth.
 */

// Node's fast UTF-8 paths (present on Buffer.prototype since early Node, untyped in @types/node).
declare global {
  interface Buffer {
    utf8Write(s: string, offset: number, length?: number): number;
    utf8Slice(start: number, end: number): string;
  }
}

const INITIAL_CAPACITY = 64 * 1024;

export class BufferWriter {
  buf: Buffer;
  /** Bytes written so far; the next write goes at `buf[pos]`. */
  pos = 0;

  constructor(initialCapacity = INITIAL_CAPACITY) {
    this.buf = Buffer.allocUnsafe(initialCapacity);
  }

  /** Make room for `n` more bytes. */
  ensure(n: number): void {
    // The check alone, so that V8 inlines it into every writer (with the growth in it, it stayed
    // a call from the generated encoders: ~3 % of a ThriftMux client's CPU).
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    const needed = this.pos + n;
    let cap = this.buf.length * 2;
    while (cap < needed) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  writeU8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  writeI8(v: number): void {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos);
    this.pos += 1;
  }

  writeI16(v: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
  }

  writeI32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }

  writeU32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  writeI64(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }

  writeDouble(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  writeDoubleLE(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  writeBytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** Writes the UTF-8 bytes of `s` (no length prefix); returns how many were written. */
  writeUtf8(s: string): number {
    // A UTF-8 encoding never exceeds 3 bytes per UTF-16 unit.
    this.ensure(s.length * 3);
    const n = this.buf.utf8Write(s, this.pos);
    this.pos += n;
    return n;
  }

  /** Reserve `n` bytes to fill in later (a length prefix); returns their offset. */
  reserve(n: number): number {
    this.ensure(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** A copy of everything written, then reset. */
  takeCopy(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    return out;
  }

  /** View of everything written (valid until the next write or reset). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  reset(): void {
    this.pos = 0;
  }
}

/**
 * Thrown by BufferReader when the input ends before the value does. Transports that can wait
 * for more bytes (unframed streams) catch it; everywhere else it becomes a ProtocolError.
 */
export class BufferUnderflow extends Error {
  constructor() {
    super('input ended before the value was complete');
  }
}
const UNDERFLOW = new BufferUnderflow();

export class BufferReader {
  buf: Buffer;
  pos: number;
  /** Exclusive end of readable bytes. */
  end: number;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws BufferUnderflow unless `n` more bytes are readable. */
  need(n: number): void {
    if (this.pos + n > this.end) throw UNDERFLOW;
  }

  readU8(): number {
    if (this.pos >= this.end) throw UNDERFLOW;
    return this.buf[this.pos++]!;
  }

  readI8(): number {
    this.need(1);
    const v = this.buf.readInt8(this.pos);
    this.pos += 1;
    return v;
  }

  readI16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  readI32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  readU32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  readI64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  readDouble(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  readDoubleLE(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  readUtf8(n: number): string {
    this.need(n);
    const s = this.buf.utf8Slice(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** A copy (callers may keep it after the frame buffer is reused). */
  readBytes(n: number): Buffer {
    this.need(n);
    const out = Buffer.allocUnsafe(n);
    this.buf.copy(out, 0, this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
}
