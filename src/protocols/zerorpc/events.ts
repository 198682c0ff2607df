/**
 * ZeroRPC events (protocol v3): `msgpack([header, name, args])`, the last frame of a ZeroMQ
 * message. The request's `message_id` becomes the channel id; every later event on the channel
 * carries `response_to` = that id, echoed with the msgpack type it arrived with (str or bin).
 */
import { randomBytes } from 'node:crypto';
import { ProtocolError } from '../../core/errors.js';
import { PackReader, PackWriter } from './msgpack.js';

/** A message id: Python sends 32 hex digits as bin, the Node port a UUID-like str. */
export type MessageId = string | Uint8Array;

export interface EventHeader {
  readonly message_id: MessageId;
  /** 3 for protocol v3; absent for v1 peers. */
  readonly v?: number;
  readonly response_to?: MessageId;
  /** Middleware keys (task context, a trace id) travel beside them. */
  readonly [key: string]: unknown;
}

export interface ZeroEvent {
  readonly header: EventHeader;
  readonly name: string;
  /** A request's positional arguments (an array); a reply's payload (OK: `[result]`; STREAM: the item). */
  readonly args: unknown;
}

export const OK = 'OK';
export const ERR = 'ERR';
export const STREAM = 'STREAM';
export const STREAM_DONE = 'STREAM_DONE';
export const HEARTBEAT = '_zpc_hb';
export const MORE = '_zpc_more';
export const PROTOCOL_VERSION = 3;

/**
 * `encodeEvent` and `pack*` write here (`pack*` return where: valid until the next encode);
 * `write*` append to the writer given (a socket's: straight into its outgoing buffer).
 */
const w = new PackWriter();

/** An event just encoded: bytes [0, length) of `buf`, the shared encoding buffer, valid until the next encode. */
export interface PackedEvent {
  readonly buf: Buffer;
  readonly length: number;
}
const packed = { buf: w.buf, length: 0 };

function packedEvent(): PackedEvent {
  packed.buf = w.buf;
  packed.length = w.pos;
  return packed;
}

/** A request's first bytes: the event array, a header of 2 keys, 'message_id' (then the id, 'v': 3). */
const REQUEST_HEAD = Buffer.from([0x93, 0x82, 0xaa, ...Buffer.from('message_id', 'latin1')]);
/** A reply's: the array, 3 keys, 'message_id' (then the id, 'v': 3, 'response_to', the channel id). */
const REPLY_HEAD = Buffer.from([0x93, 0x83, 0xaa, ...Buffer.from('message_id', 'latin1')]);
const V3 = Buffer.from([0xa1, 0x76, PROTOCOL_VERSION]);
const RESPONSE_TO = Buffer.from([0xab, ...Buffer.from('response_to', 'latin1')]);

/**
 * A channel id: one the peer chose (echoed as it came), or the counter of a hex-shaped id (see
 * MessageIds): one of ours, or, with that peer's 24 fixed bytes given, one of the peer's.
 */
export type ChannelRef = MessageId | number;

function writeId(out: PackWriter, ids: MessageIds, id: ChannelRef, tail: Uint8Array | undefined): void {
  if (typeof id === 'number') {
    if (tail === undefined) ids.writeBin(out, id);
    else writeHexBin(out, id, tail);
  } else if (typeof id === 'string') out.string(id);
  else out.binary(id);
}

/** Encodes one event (a fresh buffer). Throws (before anything is sent) when a value cannot be encoded. */
export function encodeEvent(header: EventHeader, name: string, args: unknown): Buffer {
  w.start();
  writeEvent(w, header, name, args);
  return w.take();
}

/** Appends one event to `out`. Throws when a value cannot be encoded. */
export function writeEvent(out: PackWriter, header: EventHeader, name: string, args: unknown): void {
  out.arrayHeader(3);
  out.object(header as Record<string, unknown>, 1);
  out.value(name, 1);
  out.value(args, 1);
}

/**
 * Appends a request `{ message_id: ids' id number seq, v: 3 }`, written without a header object
 * or an id buffer. Throws when a value cannot be encoded.
 */
export function writeRequest(out: PackWriter, ids: MessageIds, seq: number, name: string, args: unknown): void {
  // The header's bytes are the same but for the counter: one copy, then 8 digits written in.
  const head = ids.requestHead;
  out.ensure(head.length);
  const at = out.pos;
  out.buf.set(head, at);
  writeCounter(seq, out.buf, at + REQUEST_HEAD.length + 2);
  out.pos = at + head.length;
  out.string(name);
  out.value(args, 1);
}

/**
 * Appends a reply or control event `{ message_id: a fresh id of ids, v: 3, response_to: channel }`
 * with `name` and `args`.
 */
export function writeReply(out: PackWriter, ids: MessageIds, channel: ChannelRef, name: string, args: unknown): void {
  writeReplyHead(out, ids, channel);
  writeReplyBody(out, name, args);
}

/**
 * The header of a reply: a numbered channel is one of ours, or the peer's whose fixed 24 bytes
 * are `tail`; `heads` (made for that tail) writes a numbered channel's header from a template.
 */
export function writeReplyHead(out: PackWriter, ids: MessageIds, channel: ChannelRef, tail?: Uint8Array, heads?: ReplyHeads): void {
  if (heads !== undefined && typeof channel === 'number') return heads.write(out, channel);
  out.raw(REPLY_HEAD);
  ids.writeBin(out, ids.take());
  out.raw(V3);
  out.raw(RESPONSE_TO);
  writeId(out, ids, channel, tail);
}

/** A reply's event name and args; `one`: the args are `[args]`, written without that array (a result: `OK [value]`). */
export function writeReplyBody(out: PackWriter, name: string, args: unknown, one = false): void {
  out.string(name);
  if (one) {
    out.byte(0x91);
    out.value(args, 2);
  } else out.value(args, 1);
}

/** `writeRequest` into the shared buffer (valid until the next encode). */
export function packRequest(ids: MessageIds, seq: number, name: string, args: unknown): PackedEvent {
  w.start();
  writeRequest(w, ids, seq, name, args);
  return packedEvent();
}

/** `writeReply` into the shared buffer (valid until the next encode). */
export function packReply(ids: MessageIds, channel: ChannelRef, name: string, args: unknown): PackedEvent {
  w.start();
  writeReply(w, ids, channel, name, args);
  return packedEvent();
}

/** The header of a reply or control event on channel `channel`. */
export function replyHeader(id: MessageId, channel: MessageId): EventHeader {
  return { message_id: id, v: PROTOCOL_VERSION, response_to: channel };
}

function isId(v: unknown): v is MessageId {
  return typeof v === 'string' || v instanceof Uint8Array;
}

const KEY_MESSAGE_ID = REQUEST_HEAD.subarray(2);
const KEY_V = V3.subarray(0, 2);

/**
 * The header every peer sends (`message_id`, `v`, then `response_to` on replies, in that order:
 * zerorpc-python's and ours) as an object literal, without decoding its keys; undefined (nothing
 * read) for any other, which the generic map reading takes.
 */
function commonHeader(r: PackReader, keys: number): Record<string, unknown> | undefined {
  if (keys !== 2 && keys !== 3) return undefined;
  const at = r.pos;
  if (r.skipIf(KEY_MESSAGE_ID)) {
    const message_id = r.value(1);
    if (r.skipIf(KEY_V)) {
      const v = r.value(1);
      if (keys === 2) return { message_id, v };
      if (r.skipIf(RESPONSE_TO)) return { message_id, v, response_to: r.value(1) };
    }
  }
  r.pos = at;
  return undefined;
}

/**
 * A reply as the client reads it, one object reused for every event: take its fields before the
 * next read.
 */
/**
 * An event as the server reads it, one object reused for every event: take its fields before
 * the next read. A request whose header is exactly `{message_id: <32-byte bin>, v}` (ours and
 * zerorpc-python's) has no header object and no id view made: `idAt` is where its 32 id bytes
 * are in the buffer read. Any other event has `header` (and `idAt` -1).
 */
export interface ServerEvent {
  header: EventHeader | undefined;
  idAt: number;
  name: string;
  /** A request's args array has one more element at its end, undefined (see `event`'s `argsSlot`). */
  args: unknown;
}

export interface ReplyEvent {
  /** The counter of `response_to` when it is an id of the reader's MessageIds (ours), else -1. */
  seq: number;
  name: string;
  args: unknown;
  /** `args` is an OK's result itself: its `[result]` was read without making the array. */
  result: boolean;
}

/**
 * Reads events, bounded by `maxBytes`. Strict about the envelope (an array of at least three: a
 * map header with a str or bin `message_id`, a str name), lenient about the rest: extra elements
 * and unknown header keys are kept or ignored, integer map keys are accepted.
 */
export class EventReader {
  private readonly r: PackReader;
  private readonly out: ReplyEvent = { seq: -1, name: '', args: undefined, result: false };
  private readonly req: ServerEvent = { header: undefined, idAt: -1, name: '', args: undefined };

  constructor(maxBytes?: number) {
    this.r = new PackReader(maxBytes);
  }

  /**
   * The event in bytes [start, end) of `buf`. `argsSlot`: when it opens a channel (no
   * `response_to`), an args array gets one more element, undefined, at its end (the server's
   * slot for the request context: the array never grows).
   */
  event(buf: Uint8Array, start = 0, end = buf.length, argsSlot = false): ZeroEvent {
    const r = this.r;
    r.reset(buf, start, end);
    const n = r.arrayHeader();
    if (n < 3) {
      // Not an event: say whether it is msgpack at all (read as a whole value) or the wrong shape.
      r.reset(buf, start, end);
      r.value();
      r.done();
      throw new ProtocolError('a ZeroRPC event is an array [header, name, args]');
    }
    const keys = r.mapHeader();
    if (keys < 0) {
      r.value(1); // a msgpack error first, if it is one
      throw new ProtocolError('event header is not a map');
    }
    const h = commonHeader(r, keys) ?? r.map(keys, 1);
    if (!isId(h.message_id)) throw new ProtocolError('event header has no str or bin message_id');
    const to = h.response_to;
    if (to !== undefined && to !== null && !isId(to)) throw new ProtocolError('event response_to is not a str or bin');
    if (h.v !== undefined && typeof h.v !== 'number') throw new ProtocolError('event header v is not an integer');
    const len = r.strBounds();
    if (len < 0) throw new ProtocolError('event name is not a str');
    const name = r.shortText(len);
    const count = argsSlot && (to === undefined || to === null) ? r.arrayHeader() : -1;
    const args = count >= 0 ? r.array(count, 1, 1) : r.value(1);
    for (let i = 3; i < n; i++) r.value(1); // extra elements: read (they must be msgpack), ignored
    r.done();
    return { header: h as unknown as EventHeader, name, args };
  }

  /** The server's read of bytes [start, end) of `buf` (see ServerEvent): checked as `event` does, with `argsSlot`. */
  request(buf: Buffer, start: number, end: number): ServerEvent {
    const r = this.r;
    const out = this.req;
    r.reset(buf, start, end);
    const n = r.arrayHeader();
    if (n >= 3 && r.mapHeader() === 2 && r.skipIf(KEY_MESSAGE_ID)) {
      const b = r.buf;
      const at = r.pos;
      if (r.end - at >= 34 && b[at] === 0xc4 && b[at + 1] === 32) {
        r.pos = at + 34;
        if (r.skipIf(KEY_V) && typeof r.value(1) === 'number') {
          const len = r.strBounds();
          if (len >= 0) {
            out.name = r.shortText(len);
            const count = r.arrayHeader();
            out.args = count >= 0 ? r.array(count, 1, 1) : r.value(1);
            for (let i = 3; i < n; i++) r.value(1);
            r.done();
            out.header = undefined;
            out.idAt = at + 2;
            return out;
          }
        }
      }
    }
    // Any other shape (a channel event, more header keys, a str id, a malformed event): read in full.
    const ev = this.event(buf, start, end, true);
    out.header = ev.header;
    out.idAt = -1;
    out.name = ev.name;
    out.args = ev.args;
    return out;
  }

  /**
   * A reply to one of `ids`' requests, in bytes [start, end) of `buf`: checked as `event` does,
   * but the common header (`message_id`, `v`, `response_to` = one of our ids) is skipped over
   * without making its ids or a header object. Returns the reader's one ReplyEvent.
   */
  reply(buf: Buffer, start: number, end: number, ids: MessageIds): ReplyEvent {
    const r = this.r;
    const out = this.out;
    r.reset(buf, start, end);
    const n = r.arrayHeader();
    if (n >= 3 && r.mapHeader() === 3 && r.skipIf(KEY_MESSAGE_ID) && r.skipBytes() && r.skipIf(KEY_V) && typeof r.value(1) === 'number' && r.skipIf(RESPONSE_TO)) {
      const b = r.buf;
      const at = r.pos;
      const seq = r.end - at >= 34 && b[at] === 0xc4 && b[at + 1] === 32 ? ids.seqAt(b, at + 2) : -1;
      if (seq >= 0) {
        r.pos = at + 34;
        const len = r.strBounds();
        if (len >= 0) {
          const name = r.shortText(len);
          out.name = name;
          // OK [result]: the result without its array (nested one deeper, as it was; a truncated
          // one is left to the array's reading, for the same error).
          const result = name === OK && r.end - r.pos >= 2 && b[r.pos] === 0x91;
          if (result) r.pos++;
          out.args = result ? r.value(2) : r.value(1);
          out.result = result;
          for (let i = 3; i < n; i++) r.value(1);
          r.done();
          out.seq = seq;
          return out;
        }
      }
    }
    // Any other shape (a foreign or no response_to, more header keys, a malformed event): read in full.
    const ev = this.event(buf, start, end);
    const to = ev.header.response_to;
    out.seq = to === undefined || to === null ? -1 : ids.seqOf(to);
    out.name = ev.name;
    out.args = ev.args;
    out.result = false;
    return out;
  }
}

/** A decoder of whole events (each a fresh ZeroEvent), bounded by `maxBytes`; see EventReader. */
export function eventDecoder(maxBytes?: number): (bytes: Uint8Array) => ZeroEvent {
  const r = new EventReader(maxBytes);
  return (bytes) => r.event(bytes);
}

/** A map key for an id that keeps str and bin apart (`'abc'` and bin `abc` are different channels). */
export function idKey(id: MessageId): string {
  if (typeof id === 'string') return `s${id}`;
  return `b${Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1')}`;
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Hex digit values by byte (lower case, as ids are made), -1 for anything else. */
const UNHEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) UNHEX[HEX[i]!] = i;

/** A reply header with both ids hex-shaped: REPLY_HEAD, our id, 'v': 3, 'response_to', the channel's id. */
const REPLY_HEAD_SIZE = REPLY_HEAD.length + 34 + V3.length + RESPONSE_TO.length + 34;

/**
 * The reply headers of one generator's ids answering one peer whose ids end in `tail`: every
 * byte is fixed but the two counters, so a header is one copy of a template and 16 digits
 * written in (ten small writes before, each a call).
 */
export class ReplyHeads {
  private readonly template: Buffer;

  constructor(
    private readonly ids: MessageIds,
    tail: Uint8Array,
  ) {
    const w = new PackWriter(REPLY_HEAD_SIZE);
    w.raw(REPLY_HEAD);
    ids.writeBin(w, 0);
    w.raw(V3);
    w.raw(RESPONSE_TO);
    writeHexBin(w, 0, tail);
    this.template = w.take();
  }

  /** The header of a fresh message answering channel `channel` (a counter of the peer's). */
  write(out: PackWriter, channel: number): void {
    out.ensure(REPLY_HEAD_SIZE);
    const b = out.buf;
    const at = out.pos;
    b.set(this.template, at);
    writeCounter(this.ids.take(), b, at + REPLY_HEAD.length + 2);
    writeCounter(channel, b, at + REPLY_HEAD_SIZE - 32);
    out.pos = at + REPLY_HEAD_SIZE;
  }
}

/**
 * Message ids shaped like Python's: 8 hex digits of a counter, then 24 hex digits fixed per
 * generator (random), sent as 32-byte bin. Unique within the generator; the 96 random bits keep
 * two processes apart. An id is known by its counter (`seq`): written in place, and read back
 * from a peer's `response_to` without a string or a buffer.
 */
export class MessageIds {
  private readonly template = Buffer.alloc(32);
  /** The 24 fixed hex digits. */
  private readonly tail: Buffer;
  private counter = 0;
  /** A request's bytes up to its event name (REQUEST_HEAD, an id with counter 0, 'v': 3). */
  readonly requestHead: Buffer;

  constructor() {
    Buffer.from(randomBytes(12).toString('hex'), 'latin1').copy(this.template, 8);
    this.tail = this.template.subarray(8);
    const w = new PackWriter(64);
    w.raw(REQUEST_HEAD);
    this.writeBin(w, 0);
    w.raw(V3);
    this.requestHead = w.take();
  }

  /** The next sequence number (wraps at 2^32). */
  take(): number {
    const c = this.counter;
    this.counter = (c + 1) >>> 0;
    return c;
  }

  /** Id `seq` as 32 bytes at `buf[at]`. */
  write(seq: number, buf: Uint8Array, at: number): void {
    writeHex(seq, this.tail, buf, at);
  }

  /** Id `seq` as a msgpack bin. */
  writeBin(w: PackWriter, seq: number): void {
    writeHexBin(w, seq, this.tail);
  }

  next(): Buffer {
    const id = Buffer.allocUnsafe(32);
    this.write(this.take(), id, 0);
    return id;
  }

  /** The sequence number of an id this generator made, or -1 for any other id. */
  seqOf(id: MessageId): number {
    return idSeq(id, this.tail);
  }

  /** The sequence number of the 32 bytes at `b[at]` when they are an id this generator made, or -1. */
  seqAt(b: Uint8Array, at: number): number {
    return hexSeq(b, at, this.tail);
  }
}

/**
 * The counter of an id shaped as Python's and ours (32 bytes: 8 lower-case hex digits, then
 * `tail`), or -1 for any other id. `tail` undefined: any 24 bytes.
 */
export function idSeq(id: MessageId, tail: Uint8Array | undefined): number {
  if (typeof id === 'string' || id.length !== 32) return -1;
  return hexSeq(id, 0, tail);
}

/** The id of counter `seq` and fixed bytes `tail` (8 lower-case hex digits, then `tail`) at `buf[at]`. */
function writeHex(seq: number, tail: Uint8Array, buf: Uint8Array, at: number): void {
  buf.set(tail, at + 8);
  writeCounter(seq, buf, at);
}

/** Counter `seq` as 8 lower-case hex digits at `buf[at]`. */
function writeCounter(seq: number, buf: Uint8Array, at: number): void {
  let c = seq;
  for (let i = 7; i >= 0; i--) {
    buf[at + i] = HEX[c & 15]!;
    c >>>= 4;
  }
}

/** That id as a msgpack bin (32 bytes). */
function writeHexBin(w: PackWriter, seq: number, tail: Uint8Array): void {
  w.ensure(34);
  w.buf[w.pos] = 0xc4;
  w.buf[w.pos + 1] = 32;
  writeHex(seq, tail, w.buf, w.pos + 2);
  w.pos += 34;
}

/** `idSeq` of the 32 bytes at `b[at]` (there must be 32). */
export function hexSeq(b: Uint8Array, at: number, tail: Uint8Array | undefined): number {
  if (tail !== undefined) for (let i = 0; i < 24; i++) if (b[at + 8 + i] !== tail[i]) return -1;
  let c = 0;
  for (let i = 0; i < 8; i++) {
    const d = UNHEX[b[at + i]!]!;
    if (d < 0) return -1;
    c = c * 16 + d;
  }
  return c;
}
