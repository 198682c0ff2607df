/**
 * Apache Thrift's THeader framing (doc/specs/HeaderFormat.md; Python 0.17's THeaderTransport):
 *
 *   u32 length | u16 0x0FFF | u16 flags | i32 seqid | u16 header words (×4 bytes)
 *   header: varint protocol id (0 binary, 2 compact) | varint transform count | varint ids...
 *           info blocks: varint 1 (key/value) | varint count | (varint len, key)(varint len, value)...
 *           zero padding to the header's length
 *   payload: one binary or compact Thrift message (zlib-deflated when transform 1 is listed)
 *
 * Everything a peer claims is checked against the frame and `HeaderLimits` before anything of
 * that size is allocated; a violation is a HeaderLimitError or a ProtocolError (the connection closes).
 */
import { inflateSync, deflateSync } from 'node:zlib';
import type { BufferWriter } from '../../core/bytes.js';
import { InvalidArgumentError, ProtocolError } from '../../core/errors.js';

export const HEADER_MAGIC = 0x0fff;
/** The u16 after a THeader frame's length: the magic. */
export const HEADER_MAGIC_HI = 0x0f;
export const HEADER_MAGIC_LO = 0xff;
/** THeaderSubprotocolID. */
export const HeaderProtocolId = { BINARY: 0, COMPACT: 2 } as const;
/** THeaderTransformID: only zlib is defined by Apache's Python and Go libraries. */
export const ZLIB_TRANSFORM = 1;
/** TInfoHeaderType.KEY_VALUE. */
const INFO_KEY_VALUE = 1;
/** magic(2) flags(2) seqid(4) header words(2): the bytes before the header, after the length. */
const FIXED_BYTES = 10;
/** More transforms than this on one message is hostile (Apache defines one). */
const MAX_TRANSFORMS = 4;

/** Limits on what one THeader message may carry (docs/thrift.md). */
export interface HeaderLimits {
  /** Most info headers (key/value pairs) in one message (default 64). */
  maxHeaders: number;
  /** Most bytes of info header keys and values in one message, together (default 16384). */
  maxHeaderBytes: number;
  /** Largest payload a zlib transform may inflate to (default: the frame limit, 16 MiB). */
  maxInflatedBytes: number;
}

export const DEFAULT_HEADER_LIMITS: Readonly<Omit<HeaderLimits, 'maxInflatedBytes'>> = { maxHeaders: 64, maxHeaderBytes: 16 * 1024 };

/** A THeader message over a limit: the peer is refused (the connection closes), nothing was allocated for it. */
export class HeaderLimitError extends ProtocolError {
  constructor(
    readonly limit: keyof HeaderLimits,
    readonly value: number,
    readonly max: number,
  ) {
    super(`THeader message over its limit: ${limit} ${value} > ${max}`);
  }
}

export function checkHeaderLimits(l: Partial<HeaderLimits> | undefined): void {
  if (l === undefined) return;
  for (const [k, v] of Object.entries(l)) {
    if (!(k === 'maxHeaders' || k === 'maxHeaderBytes' || k === 'maxInflatedBytes')) throw new InvalidArgumentError(`unknown headerLimits key '${k}'`);
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= 0)) throw new InvalidArgumentError(`headerLimits.${k} must be a non-negative integer, got ${typeof v} ${String(v)}`);
  }
}

/** One THeader message as read: what a reply must echo, the info headers, and the Thrift payload. */
export interface HeaderFrame {
  readonly protocolId: number;
  readonly flags: number;
  readonly seqid: number;
  /** Transform ids in the order they were applied by the sender (a reply applies the same). */
  readonly transforms: readonly number[];
  /** Info headers (key/value), or undefined when none came: keys as UTF-8, values as views of the frame. */
  readonly headers: Map<string, Buffer> | undefined;
  /** The Thrift message (inflated), and where it starts. */
  readonly payload: Buffer;
  readonly offset: number;
}

/** True when `buf[at..]` starts with the THeader magic (the caller checked there are 2 bytes). */
export function isHeaderMagic(buf: Buffer, at: number): boolean {
  return buf[at] === HEADER_MAGIC_HI && buf[at + 1] === HEADER_MAGIC_LO;
}

/** Reads the THeader message in buf[start, end) (start: the magic, after the length). */
export function readHeaderFrame(buf: Buffer, start: number, end: number, limits: HeaderLimits): HeaderFrame {
  if (end - start < FIXED_BYTES) throw new ProtocolError(`truncated THeader message: ${end - start} bytes, the fixed part alone is ${FIXED_BYTES}`);
  if (!isHeaderMagic(buf, start)) throw new ProtocolError('not a THeader message (no 0x0FFF magic)');
  const flags = buf.readUInt16BE(start + 2);
  const seqid = buf.readInt32BE(start + 4);
  const headerEnd = start + FIXED_BYTES + buf.readUInt16BE(start + 8) * 4;
  if (headerEnd > end) throw new ProtocolError(`THeader header of ${headerEnd - start - FIXED_BYTES} bytes is larger than its frame (${end - start} bytes)`);
  const c = { buf, pos: start + FIXED_BYTES, end: headerEnd };
  const protocolId = varint(c);
  if (protocolId !== HeaderProtocolId.BINARY && protocolId !== HeaderProtocolId.COMPACT) throw new ProtocolError(`THeader protocol id ${protocolId} is not binary (0) or compact (2)`);
  const transformCount = varint(c);
  if (transformCount > MAX_TRANSFORMS) throw new ProtocolError(`THeader message lists ${transformCount} transforms (at most ${MAX_TRANSFORMS})`);
  const transforms: number[] = [];
  for (let i = 0; i < transformCount; i++) {
    const id = varint(c);
    if (id !== ZLIB_TRANSFORM) throw new ProtocolError(`THeader transform ${id} is not supported (only zlib, 1)`);
    transforms.push(id);
  }
  let headers: Map<string, Buffer> | undefined;
  let count = 0;
  let bytes = 0;
  while (c.pos < headerEnd) {
    const type = varint(c);
    if (type === 0) break; // padding
    if (type !== INFO_KEY_VALUE) break; // an info type we do not know: skip the rest of the header, as Apache does
    const n = varint(c);
    count += n;
    if (count > limits.maxHeaders) throw new HeaderLimitError('maxHeaders', count, limits.maxHeaders);
    for (let i = 0; i < n; i++) {
      const k = str(c);
      const v = str(c);
      bytes += k.length + v.length;
      if (bytes > limits.maxHeaderBytes) throw new HeaderLimitError('maxHeaderBytes', bytes, limits.maxHeaderBytes);
      (headers ??= new Map()).set(k.toString('utf8'), v);
    }
  }
  let payload = buf;
  let offset = headerEnd;
  if (transforms.length > 0) {
    let data = buf.subarray(headerEnd, end);
    for (let i = transforms.length - 1; i >= 0; i--) data = inflate(data, limits.maxInflatedBytes);
    payload = data;
    offset = 0;
  } else {
    payload = buf.subarray(0, end);
  }
  return { protocolId, flags, seqid, transforms, headers, payload, offset };
}

function inflate(data: Buffer, max: number): Buffer {
  try {
    return inflateSync(data, { maxOutputLength: Math.max(1, max) });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new HeaderLimitError('maxInflatedBytes', max + 1, max);
    throw new ProtocolError(`THeader zlib payload does not inflate: ${(err as Error).message}`, { cause: err });
  }
}

interface Cursor {
  buf: Buffer;
  pos: number;
  end: number;
}

/** An unsigned varint of at most 32 bits inside the header. */
function varint(c: Cursor): number {
  let v = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (c.pos >= c.end) throw new ProtocolError('truncated THeader header (a varint runs past it)');
    const b = c.buf[c.pos++]!;
    v += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) {
      if (v > 0xffffffff) break;
      return v;
    }
  }
  throw new ProtocolError('THeader varint longer than 32 bits');
}

function str(c: Cursor): Buffer {
  const n = varint(c);
  if (n > c.end - c.pos) throw new ProtocolError(`THeader string of ${n} bytes runs past the header (${c.end - c.pos} left)`);
  const s = c.buf.subarray(c.pos, c.pos + n);
  c.pos += n;
  return s;
}

function writeVarint(w: BufferWriter, v: number): void {
  w.ensure(5);
  while (v >= 0x80) {
    w.buf[w.pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  w.buf[w.pos++] = v;
}

function writeStr(w: BufferWriter, s: Buffer): void {
  writeVarint(w, s.length);
  w.writeBytes(s);
}

/** What a THeader message head carries, for writing one. */
export interface HeaderHead {
  readonly protocolId: number;
  readonly flags: number;
  readonly seqid: number;
  readonly transforms: readonly number[];
  /** Info headers as encoded key/value bytes, or undefined. */
  readonly headers: readonly (readonly [Buffer, Buffer])[] | undefined;
}

/**
 * Writes a THeader message around the Thrift message `write` encodes: `prefix` writes the u32
 * length too (an unframed connection); without it the connection's own framing supplies it.
 * `write` encodes the Thrift message into `w` at the position it is given.
 */
export function writeHeaderFrame(w: BufferWriter, head: HeaderHead, prefix: boolean, write: (w: BufferWriter) => void): void {
  const lengthAt = w.pos;
  if (prefix) w.writeU32(0);
  const start = w.pos;
  w.ensure(FIXED_BYTES);
  w.buf.writeUInt16BE(HEADER_MAGIC, w.pos);
  w.buf.writeUInt16BE(head.flags & 0xffff, w.pos + 2);
  w.buf.writeInt32BE(head.seqid | 0, w.pos + 4);
  const wordsAt = w.pos + 8;
  w.pos += FIXED_BYTES;
  const headerStart = w.pos;
  writeVarint(w, head.protocolId);
  writeVarint(w, head.transforms.length);
  for (const t of head.transforms) writeVarint(w, t);
  const headers = head.headers;
  if (headers !== undefined && headers.length > 0) {
    writeVarint(w, INFO_KEY_VALUE);
    writeVarint(w, headers.length);
    for (const [k, v] of headers) {
      writeStr(w, k);
      writeStr(w, v);
    }
  }
  const pad = (4 - ((w.pos - headerStart) % 4)) % 4;
  w.ensure(pad);
  for (let i = 0; i < pad; i++) w.buf[w.pos++] = 0;
  const words = (w.pos - headerStart) / 4;
  if (words > 0xffff) throw new InvalidArgumentError(`THeader headers of ${w.pos - headerStart} bytes do not fit its 16-bit length (at most 262140)`);
  w.buf.writeUInt16BE(words, wordsAt);
  if (head.transforms.length === 0) {
    write(w);
  } else {
    const payloadStart = w.pos;
    write(w);
    let data = Buffer.from(w.buf.subarray(payloadStart, w.pos));
    for (let i = 0; i < head.transforms.length; i++) data = deflateSync(data);
    w.pos = payloadStart;
    w.writeBytes(data);
  }
  if (prefix) w.buf.writeUInt32BE(w.pos - start, lengthAt);
}

/** Encodes string headers for writing (keys and values as UTF-8). */
export function encodeHeaders(headers: Iterable<readonly [string, string | Buffer]>): [Buffer, Buffer][] {
  const out: [Buffer, Buffer][] = [];
  for (const [k, v] of headers) out.push([Buffer.from(k, 'utf8'), typeof v === 'string' ? Buffer.from(v, 'utf8') : v]);
  return out;
}
