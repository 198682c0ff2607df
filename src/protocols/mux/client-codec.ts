/**
 * Mux on a MultiplexedSession, client side. The session owns tags (2 .. 2^23-1, smallest free
 * first), pending calls, abandoned calls (a tag stays held until an R-message for it arrives,
 * after Tdiscarded too), drain and lease; this codec writes Tdispatch, reads what the server
 * sends, and answers the server's control messages itself:
 *
 *   Rdispatch OK / Rreq OK    the reply (payload at an offset, no copy)
 *   Rdispatch ERROR           MuxServerError with the server's text
 *   Rdispatch NACK            MuxNackError (retryable: the call did not run)
 *   Rdiscarded                the abandoned call's tag is free again
 *   Rerr on a call's tag      MuxServerError; on any other tag, a violation (session closes)
 *   Tping                     answered with Rping on the same tag
 *   Tdrain                    answered with Rdrain; the session takes no new call and closes once idle
 *   Tlease (ms)               the session is 'busy' once the lease runs out
 *   Rping                     the answer to the failure detector's ping (pinger.ts)
 */
import { CancelledError, stackless } from '../../core/errors.js';
import type { TagSpace } from '../../core/tags.js';
import type { MultiplexedCodec, SessionControl } from '../../session/codec.js';
import type { Connection } from '../../transport/index.js';
import { MuxNackError, MuxServerError } from './errors.js';
import { FragmentWriter, Reassembler, ReassemblyBudget } from './fragments.js';
import type { MuxReply, MuxRequest } from './request.js';
import { FIRST_DISPATCH_TAG, HEADER_BYTES, MAX_TAG, MuxType, ReplyStatus } from './types.js';
import { encodeMessage, writeHeader } from './wire.js';

/** Rdispatch's type byte as it is on the wire (-2 as an unsigned byte). */
const RDISPATCH_BYTE = MuxType.Rdispatch & 0xff;

const MUX_TAGS: TagSpace = { first: FIRST_DISPATCH_TAG, last: MAX_TAG, order: 'lowest' };

export interface MuxClientCodecOptions {
  /** Largest whole (reassembled) message accepted, in bytes (default 16 MiB). */
  maxMessageBytes?: number;
  /** Most fragmented messages in progress at once (default 1024). */
  maxPartials?: number;
  /** Bytes held in unfinished fragmented replies on this session (default 64 MiB). */
  maxReassemblyBytes?: number;
  /** Most contexts accepted on one Rdispatch (default 256). */
  maxContexts?: number;
  /** The peer's `mux-framer` from the handshake: Tdispatch bodies are fragmented to it (default: none). */
  peerMaxFrame?: number;
}

export class MuxClientCodec implements MultiplexedCodec<MuxRequest, MuxReply> {
  readonly tags = MUX_TAGS;
  private readonly reassembler: Reassembler;
  private readonly maxContexts: number;
  private readonly peerMaxFrame: number;
  private fragments: FragmentWriter | undefined = undefined;
  /** Told of every Rping (the failure detector's answer). */
  onRping: (() => void) | undefined = undefined;

  constructor(o: MuxClientCodecOptions = {}) {
    this.reassembler = new Reassembler(o.maxMessageBytes ?? 16 * 1024 * 1024, o.maxPartials ?? 1024, new ReassemblyBudget(o.maxReassemblyBytes ?? 64 * 1024 * 1024));
    this.maxContexts = o.maxContexts ?? 256;
    this.peerMaxFrame = o.peerMaxFrame ?? Infinity;
  }

  oneway(): undefined {
    return undefined;
  }

  write(conn: Connection, req: MuxRequest, tag: number): void {
    const body = req.body;
    if (body.length + HEADER_BYTES > this.peerMaxFrame) {
      // The fragments go out over later turns: they need bytes nobody else writes to.
      this.writeFragmented(conn, Buffer.from(body), tag);
      req.written = true;
      return;
    }
    const mark = conn.beginMessage();
    const w = conn.writer;
    writeHeader(w, MuxType.Tdispatch, tag);
    w.writeBytes(body);
    conn.endMessage(mark);
    req.written = true;
  }

  /** The common case in place: a whole Rdispatch while no fragmented message is pending. Anything else as `read`. */
  readRange(buf: Buffer, start: number, end: number, s: SessionControl<MuxRequest, MuxReply>): void {
    if (end - start >= HEADER_BYTES && buf[start] === RDISPATCH_BYTE && (buf[start + 1]! & 0x80) === 0 && this.reassembler.pending === 0) {
      const tag = ((buf[start + 1]! << 16) | (buf[start + 2]! << 8) | buf[start + 3]!) & MAX_TAG;
      return this.readReply(buf, start, end, tag, s, true);
    }
    this.read(buf.subarray(start, end), s);
  }

  read(message: Buffer, s: SessionControl<MuxRequest, MuxReply>): void {
    if (message.length < HEADER_BYTES) return s.violation(`mux message of ${message.length} bytes`);
    const whole = this.reassembler.accept(message);
    if (whole === undefined) return;
    const code = whole.readInt8(0);
    const tag = ((whole[1]! << 16) | (whole[2]! << 8) | whole[3]!) & MAX_TAG;
    switch (code) {
      case MuxType.Rdispatch:
        return this.readReply(whole, 0, whole.length, tag, s, true);
      case MuxType.Rreq:
        return this.readReply(whole, 0, whole.length, tag, s, false);
      case MuxType.Rdiscarded:
        return s.fail(tag, new CancelledError('the server discarded the call', { endpoint: s.conn.endpoint }));
      case MuxType.Tping:
        return writeSimple(s.conn, MuxType.Rping, tag);
      case MuxType.Rping:
        this.onRping?.();
        return;
      case MuxType.Tdrain:
        writeSimple(s.conn, MuxType.Rdrain, tag);
        return s.drain();
      case MuxType.Tlease: {
        if (whole.length < HEADER_BYTES + 9) return s.violation('truncated Tlease');
        if (whole[4] !== 0) return; // only milliseconds are defined
        return s.lease(Number(whole.readBigUInt64BE(5)));
      }
      case MuxType.Rerr:
      case MuxType.RerrLegacy: {
        const reason = whole.toString('utf8', HEADER_BYTES);
        if (tag >= FIRST_DISPATCH_TAG && s.request(tag) !== undefined) {
          return s.fail(tag, new MuxServerError(`server error: ${reason}`, { endpoint: s.conn.endpoint }));
        }
        return s.violation(`mux session error from the server (tag ${tag}): ${reason}`);
      }
      default:
        return s.violation(`unexpected mux message type ${code} (tag ${tag}) from the server`);
    }
  }

  /**
   * Tdiscarded (tag 0, `which` = the call's tag) in the form Finagle sends (-62). The tag stays
   * held until the server answers it. A call still going out in fragments is finished first: a
   * server that dropped its pieces would read the rest as a new, truncated message.
   */
  abandoned(tag: number, _req: MuxRequest, s: SessionControl<MuxRequest, MuxReply>): void {
    const conn = s.conn;
    if (this.fragments?.afterTag(tag, () => writeDiscard(conn, tag))) return;
    writeDiscard(conn, tag);
  }

  /** The reply in m[start, end). */
  private readReply(m: Buffer, start: number, end: number, tag: number, s: SessionControl<MuxRequest, MuxReply>, dispatch: boolean): void {
    if (end - start < HEADER_BYTES + (dispatch ? 3 : 1)) return s.violation(`truncated ${dispatch ? 'Rdispatch' : 'Rreq'} for tag ${tag}`);
    const status = m[start + HEADER_BYTES]!;
    let at = start + HEADER_BYTES + 1;
    if (dispatch) {
      // Contexts on replies: skipped, bounded (none are used yet).
      const n = (m[at]! << 8) | m[at + 1]!;
      if (n > this.maxContexts) return s.violation(`Rdispatch claims ${n} contexts (limit ${this.maxContexts})`);
      at += 2;
      for (let i = 0; i < 2 * n; i++) {
        if (at + 2 > end) return s.violation(`truncated Rdispatch contexts for tag ${tag}`);
        at += 2 + ((m[at]! << 8) | m[at + 1]!);
      }
      if (at > end) return s.violation(`truncated Rdispatch contexts for tag ${tag}`);
    }
    if (status === ReplyStatus.OK) return s.reply(tag, { message: m, offset: at, end });
    if (status === ReplyStatus.NACK)
      return s.fail(
        tag,
        stackless(() => new MuxNackError(undefined, { endpoint: s.conn.endpoint })),
      );
    if (status === ReplyStatus.ERROR) return s.fail(tag, new MuxServerError(`server error: ${m.toString('utf8', at, end)}`, { endpoint: s.conn.endpoint }));
    return s.violation(`unknown reply status ${status} for tag ${tag}`);
  }

  private writeFragmented(conn: Connection, body: Buffer, tag: number): void {
    (this.fragments ??= new FragmentWriter(conn, this.peerMaxFrame)).send(MuxType.Tdispatch, tag, body);
  }
}

function writeDiscard(conn: Connection, tag: number): void {
  if (conn.closing) return;
  const mark = conn.beginMessage();
  encodeMessage(conn.writer, { type: 'Tdiscarded', tag: 0, which: tag, reason: 'the caller gave up (timeout or cancel)', legacy: true });
  conn.endMessage(mark);
}

/** A message with no body (Rping, Rdrain, Tdrain, Rdiscarded...). */
export function writeSimple(conn: Connection, code: number, tag: number): void {
  if (conn.closing) return; // nothing more goes out on a closing connection
  const mark = conn.beginMessage();
  writeHeader(conn.writer, code, tag);
  conn.endMessage(mark);
}
