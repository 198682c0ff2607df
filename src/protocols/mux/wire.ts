/**
 * Every Mux message as a value, and its exact bytes (Finagle's `mux/transport/Message.scala`):
 * `decodeMessage` reads one whole message (after the u32 size the Connection strips: `type:i8
 * tag:u24 body`), `encodeMessage` writes it back byte for byte, legacy type codes included, so a
 * recorded frame decodes and re-encodes identically. Sessions use the faster per-message paths
 * (dispatch.ts) on the hot path; this is the reference and the control-message writer.
 *
 * Decoding is bounded: a hostile peer can claim at most `maxContexts` contexts, `maxDtab` dtab
 * entries and `maxInitHeaders` handshake headers, each length checked against the bytes present
 * before anything is sliced; a violation is a ProtocolError (the session closes).
 */
import { BufferReader, BufferUnderflow, type BufferWriter } from '../../core/bytes.js';
import { ProtocolError } from '../../core/errors.js';
import { readU16, readU24, writeU16, writeU24 } from './bytes.js';
import { FRAGMENT_BIT, MAX_TAG, MuxType } from './types.js';

/** A context or header entry: raw key and value bytes (views into the message). */
export type MuxEntry = readonly [key: Buffer, value: Buffer];

export type MuxMessage =
  | { readonly type: 'Treq'; readonly tag: number; readonly traces: readonly (readonly [number, Buffer])[]; readonly body: Buffer }
  | { readonly type: 'Rreq'; readonly tag: number; readonly status: number; readonly body: Buffer }
  | {
      readonly type: 'Tdispatch';
      readonly tag: number;
      readonly contexts: readonly MuxEntry[];
      readonly dest: string;
      readonly dtab: readonly (readonly [string, string])[];
      readonly body: Buffer;
    }
  | { readonly type: 'Rdispatch'; readonly tag: number; readonly status: number; readonly contexts: readonly MuxEntry[]; readonly body: Buffer }
  | { readonly type: 'Tdrain' | 'Rdrain' | 'Tping' | 'Rping' | 'Rdiscarded'; readonly tag: number }
  | { readonly type: 'Tdiscarded'; readonly tag: number; readonly which: number; readonly reason: string; readonly legacy: boolean }
  | { readonly type: 'Tlease'; readonly tag: number; readonly unit: number; readonly howMuch: bigint }
  | { readonly type: 'Tinit' | 'Rinit'; readonly tag: number; readonly version: number; readonly headers: readonly MuxEntry[] }
  | { readonly type: 'Rerr'; readonly tag: number; readonly reason: string; readonly legacy: boolean }
  /** One piece of a fragmented Tdispatch/Rdispatch (tag's top bit set); see fragments.ts. */
  | { readonly type: 'Fragment'; readonly code: number; readonly tag: number; readonly chunk: Buffer };

export interface MuxLimits {
  /** Most contexts on one Tdispatch/Rdispatch (default 256). */
  readonly maxContexts: number;
  /** Most dtab entries on one Tdispatch (default 256). */
  readonly maxDtab: number;
  /** Most headers in one Tinit/Rinit (default 64). */
  readonly maxInitHeaders: number;
}

export const DEFAULT_MUX_LIMITS: MuxLimits = { maxContexts: 256, maxDtab: 256, maxInitHeaders: 64 };

const SIMPLE: Record<number, 'Tdrain' | 'Rdrain' | 'Tping' | 'Rping' | 'Rdiscarded'> = {
  [MuxType.Tdrain]: 'Tdrain',
  [MuxType.Rdrain]: 'Rdrain',
  [MuxType.Tping]: 'Tping',
  [MuxType.Rping]: 'Rping',
  [MuxType.Rdiscarded]: 'Rdiscarded',
};

const SIMPLE_CODE: Record<string, number> = { Tdrain: MuxType.Tdrain, Rdrain: MuxType.Rdrain, Tping: MuxType.Tping, Rping: MuxType.Rping, Rdiscarded: MuxType.Rdiscarded };

/** Decodes one whole message (`type:i8 tag:u24 body`). Throws ProtocolError on malformed input. */
export function decodeMessage(message: Buffer, limits: MuxLimits = DEFAULT_MUX_LIMITS): MuxMessage {
  if (message.length < 4) throw new ProtocolError(`mux message of ${message.length} bytes is shorter than its header`);
  const code = message.readInt8(0);
  const rawTag = message.readUIntBE(1, 3);
  const tag = rawTag & MAX_TAG;
  const r = new BufferReader(message, 4);
  try {
    if ((rawTag & FRAGMENT_BIT) !== 0) {
      if (code !== MuxType.Tdispatch && code !== MuxType.Rdispatch) throw new ProtocolError(`mux message type ${code} cannot be fragmented`);
      return { type: 'Fragment', code, tag, chunk: message.subarray(4) };
    }
    switch (code) {
      case MuxType.Tdispatch: {
        const contexts = readEntries16(r, limits.maxContexts, 'contexts');
        const dest = r.readUtf8(readU16(r));
        const nd = readU16(r);
        if (nd > limits.maxDtab) throw new ProtocolError(`Tdispatch claims ${nd} dtab entries (limit ${limits.maxDtab})`);
        const dtab: [string, string][] = [];
        for (let i = 0; i < nd; i++) dtab.push([r.readUtf8(readU16(r)), r.readUtf8(readU16(r))]);
        return { type: 'Tdispatch', tag, contexts, dest, dtab, body: rest(r) };
      }
      case MuxType.Rdispatch: {
        const status = r.readU8();
        const contexts = readEntries16(r, limits.maxContexts, 'contexts');
        return { type: 'Rdispatch', tag, status, contexts, body: rest(r) };
      }
      case MuxType.Treq: {
        const n = r.readU8();
        const traces: [number, Buffer][] = [];
        for (let i = 0; i < n; i++) {
          const key = r.readU8();
          traces.push([key, view(r, r.readU8())]);
        }
        return { type: 'Treq', tag, traces, body: rest(r) };
      }
      case MuxType.Rreq:
        return { type: 'Rreq', tag, status: r.readU8(), body: rest(r) };
      case MuxType.Tdiscarded:
      case MuxType.TdiscardedLegacy: {
        // Some peers set the fragment bit in `which`: mask it.
        const which = readU24(r) & MAX_TAG;
        return { type: 'Tdiscarded', tag, which, reason: r.readUtf8(r.remaining), legacy: code === MuxType.TdiscardedLegacy };
      }
      case MuxType.Tlease:
        return { type: 'Tlease', tag, unit: r.readU8(), howMuch: r.readI64() };
      case MuxType.Tinit:
      case MuxType.Rinit: {
        const version = readU16(r);
        const headers: MuxEntry[] = [];
        while (r.remaining > 0) {
          if (headers.length >= limits.maxInitHeaders) throw new ProtocolError(`handshake carries more than ${limits.maxInitHeaders} headers`);
          const key = view(r, r.readU32());
          headers.push([key, view(r, r.readU32())]);
        }
        return { type: code === MuxType.Tinit ? 'Tinit' : 'Rinit', tag, version, headers };
      }
      case MuxType.Rerr:
      case MuxType.RerrLegacy:
        return { type: 'Rerr', tag, reason: r.readUtf8(r.remaining), legacy: code === MuxType.RerrLegacy };
      default: {
        const simple = SIMPLE[code];
        if (simple === undefined) throw new ProtocolError(`unknown mux message type ${code}`);
        if (r.remaining !== 0) throw new ProtocolError(`${simple} carries ${r.remaining} unexpected bytes`);
        return { type: simple, tag };
      }
    }
  } catch (err) {
    if (err instanceof BufferUnderflow) throw new ProtocolError(`truncated mux message (type ${code}, tag ${tag})`);
    throw err;
  }
}

/** Writes `msg` as one message (no size prefix: the Connection adds it). */
export function encodeMessage(w: BufferWriter, msg: MuxMessage): void {
  switch (msg.type) {
    case 'Tdispatch':
      writeHeader(w, MuxType.Tdispatch, msg.tag);
      writeEntries16(w, msg.contexts);
      writeString16(w, msg.dest);
      writeU16(w, msg.dtab.length);
      for (const [src, dst] of msg.dtab) {
        writeString16(w, src);
        writeString16(w, dst);
      }
      w.writeBytes(msg.body);
      return;
    case 'Rdispatch':
      writeHeader(w, MuxType.Rdispatch, msg.tag);
      w.writeU8(msg.status);
      writeEntries16(w, msg.contexts);
      w.writeBytes(msg.body);
      return;
    case 'Treq':
      writeHeader(w, MuxType.Treq, msg.tag);
      w.writeU8(msg.traces.length);
      for (const [key, value] of msg.traces) {
        w.writeU8(key);
        w.writeU8(value.length);
        w.writeBytes(value);
      }
      w.writeBytes(msg.body);
      return;
    case 'Rreq':
      writeHeader(w, MuxType.Rreq, msg.tag);
      w.writeU8(msg.status);
      w.writeBytes(msg.body);
      return;
    case 'Tdiscarded':
      writeHeader(w, msg.legacy ? MuxType.TdiscardedLegacy : MuxType.Tdiscarded, msg.tag);
      writeU24(w, msg.which);
      w.writeUtf8(msg.reason);
      return;
    case 'Tlease':
      writeHeader(w, MuxType.Tlease, msg.tag);
      w.writeU8(msg.unit);
      w.writeI64(msg.howMuch);
      return;
    case 'Tinit':
    case 'Rinit':
      writeHeader(w, msg.type === 'Tinit' ? MuxType.Tinit : MuxType.Rinit, msg.tag);
      writeU16(w, msg.version);
      for (const [key, value] of msg.headers) {
        w.writeU32(key.length);
        w.writeBytes(key);
        w.writeU32(value.length);
        w.writeBytes(value);
      }
      return;
    case 'Rerr':
      writeHeader(w, msg.legacy ? MuxType.RerrLegacy : MuxType.Rerr, msg.tag);
      w.writeUtf8(msg.reason);
      return;
    case 'Fragment':
      writeHeader(w, msg.code, msg.tag | FRAGMENT_BIT);
      w.writeBytes(msg.chunk);
      return;
    default:
      writeHeader(w, SIMPLE_CODE[msg.type]!, msg.tag);
  }
}

/** `type:i8 tag:u24`. */
export function writeHeader(w: BufferWriter, code: number, tag: number): void {
  w.ensure(4);
  const b = w.buf;
  const p = w.pos;
  b[p] = code & 0xff;
  b[p + 1] = (tag >>> 16) & 0xff;
  b[p + 2] = (tag >>> 8) & 0xff;
  b[p + 3] = tag & 0xff;
  w.pos = p + 4;
}

export function writeString16(w: BufferWriter, s: string): void {
  const at = w.reserve(2);
  const n = w.writeUtf8(s);
  if (n > 0xffff) throw new ProtocolError(`string of ${n} bytes does not fit a u16 length`);
  w.buf.writeUInt16BE(n, at);
}

export function writeBytes16(w: BufferWriter, b: Uint8Array): void {
  if (b.length > 0xffff) throw new ProtocolError(`value of ${b.length} bytes does not fit a u16 length`);
  writeU16(w, b.length);
  w.writeBytes(b);
}

function writeEntries16(w: BufferWriter, entries: readonly MuxEntry[]): void {
  writeU16(w, entries.length);
  for (const [k, v] of entries) {
    writeBytes16(w, k);
    writeBytes16(w, v);
  }
}

/** `n:u16 (key~u16 value~u16)*n`, bounded by `max`; values are views into the message. */
export function readEntries16(r: BufferReader, max: number, what: string): MuxEntry[] {
  const n = readU16(r);
  if (n > max) throw new ProtocolError(`mux message claims ${n} ${what} (limit ${max})`);
  const out: MuxEntry[] = [];
  for (let i = 0; i < n; i++) {
    const key = view(r, readU16(r));
    out.push([key, view(r, readU16(r))]);
  }
  return out;
}

function view(r: BufferReader, n: number): Buffer {
  r.need(n);
  const v = r.buf.subarray(r.pos, r.pos + n);
  r.pos += n;
  return v;
}

function rest(r: BufferReader): Buffer {
  const v = r.buf.subarray(r.pos, r.end);
  r.pos = r.end;
  return v;
}
