/**
 * Mux fragmentation (only Tdispatch/Rdispatch): a message's body is cut into frames of at most
 * the peer's `mux-framer` size; every frame but the last carries `tag | 0x800000`. Readers
 * reassemble per tag, and drop a partial message when its tag is discarded.
 *
 * Bounded: at most `maxPartials` messages in pieces at once and `maxMessageBytes` per whole
 * message; past either the peer is hostile or broken and the session closes (ProtocolError).
 */
import { FrameTooLargeError, ProtocolError } from '../../core/errors.js';
import type { Connection } from '../../transport/index.js';
import { FRAGMENT_BIT, HEADER_BYTES, MAX_TAG, MuxType } from './types.js';

interface Partial {
  readonly code: number;
  readonly chunks: Buffer[];
  bytes: number;
}

export class Reassembler {
  private readonly partials = new Map<number, Partial>();

  constructor(
    private readonly maxMessageBytes: number,
    private readonly maxPartials: number,
  ) {}

  /** Messages in pieces now. */
  get pending(): number {
    return this.partials.size;
  }

  /**
   * Feeds one message as read. Returns the whole message when `message` is whole or completes a
   * fragmented one (header with the plain tag, then the body), or undefined while pieces are
   * still due.
   */
  accept(message: Buffer): Buffer | undefined {
    const more = (message[1]! & 0x80) !== 0;
    if (!more && this.partials.size === 0) return message; // the common case: one frame, no table
    const code = message.readInt8(0);
    const tag = message.readUIntBE(1, 3) & MAX_TAG;
    const p = this.partials.get(tag);
    if (more) {
      if (code !== MuxType.Tdispatch && code !== MuxType.Rdispatch) throw new ProtocolError(`mux message type ${code} cannot be fragmented`);
      const chunk = message.subarray(HEADER_BYTES);
      if (p === undefined) {
        if (this.partials.size >= this.maxPartials) throw new ProtocolError(`more than ${this.maxPartials} fragmented mux messages in progress`);
        this.partials.set(tag, { code, chunks: [chunk], bytes: chunk.length });
      } else {
        if (p.code !== code) throw new ProtocolError(`fragment of type ${code} continues a type ${p.code} message on tag ${tag}`);
        this.add(p, chunk);
      }
      return undefined;
    }
    if (p === undefined) return message;
    if (p.code !== code) throw new ProtocolError(`fragment of type ${code} ends a type ${p.code} message on tag ${tag}`);
    this.partials.delete(tag);
    this.add(p, message.subarray(HEADER_BYTES));
    const whole = Buffer.allocUnsafe(HEADER_BYTES + p.bytes);
    message.copy(whole, 0, 0, HEADER_BYTES);
    let at = HEADER_BYTES;
    for (const c of p.chunks) at += c.copy(whole, at);
    return whole;
  }

  /** Forgets the pieces of `tag` (its call was discarded). */
  drop(tag: number): void {
    this.partials.delete(tag);
  }

  private add(p: Partial, chunk: Buffer): void {
    p.bytes += chunk.length;
    if (p.bytes > this.maxMessageBytes) throw new FrameTooLargeError(p.bytes, this.maxMessageBytes);
    p.chunks.push(chunk);
  }
}

/**
 * Writes the message in `w`'s bytes [from, to) — `type tag body` — to `conn` as frames of at most
 * `maxFrame` bytes (the peer's `mux-framer`, header included). Fragments of one message go out
 * back to back (interleaving with other messages is left for later: see docs/thriftmux.md).
 */
export function writeFragments(conn: Connection, bytes: Buffer, maxFrame: number): void {
  const code = bytes[0]!;
  const tag = bytes.readUIntBE(1, 3);
  const room = Math.max(1, maxFrame - HEADER_BYTES);
  let at = HEADER_BYTES;
  const end = bytes.length;
  do {
    const n = Math.min(room, end - at);
    const last = at + n >= end;
    const mark = conn.beginMessage();
    const w = conn.writer;
    w.ensure(HEADER_BYTES + n);
    const t = last ? tag : tag | FRAGMENT_BIT;
    w.buf[w.pos] = code;
    w.buf[w.pos + 1] = (t >>> 16) & 0xff;
    w.buf[w.pos + 2] = (t >>> 8) & 0xff;
    w.buf[w.pos + 3] = t & 0xff;
    w.pos += HEADER_BYTES;
    bytes.copy(w.buf, w.pos, at, at + n);
    w.pos += n;
    conn.endMessage(mark);
    at += n;
  } while (at < end);
}
