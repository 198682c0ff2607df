/**
 * The unsigned 16- and 24-bit integers Mux uses, on the shared BufferReader/BufferWriter (which
 * have the widths Thrift needs). Functions, not methods: core's byte classes stay as they are.
 */
import type { BufferReader, BufferWriter } from '../../core/bytes.js';

export function readU16(r: BufferReader): number {
  r.need(2);
  const b = r.buf;
  const p = r.pos;
  r.pos = p + 2;
  return (b[p]! << 8) | b[p + 1]!;
}

export function readU24(r: BufferReader): number {
  r.need(3);
  const b = r.buf;
  const p = r.pos;
  r.pos = p + 3;
  return (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!;
}

export function writeU16(w: BufferWriter, v: number): void {
  w.ensure(2);
  w.buf[w.pos] = (v >>> 8) & 0xff;
  w.buf[w.pos + 1] = v & 0xff;
  w.pos += 2;
}

export function writeU24(w: BufferWriter, v: number): void {
  w.ensure(3);
  w.buf[w.pos] = (v >>> 16) & 0xff;
  w.buf[w.pos + 1] = (v >>> 8) & 0xff;
  w.buf[w.pos + 2] = v & 0xff;
  w.pos += 3;
}
