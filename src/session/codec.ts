import type { ScalesError } from '../core/errors.js';
import type { TagSpace } from '../core/tags.js';
import type { Connection } from '../transport/index.js';

/** The tag a codec is given for a message that has none (a oneway call; every call of a serial session). */
export const UNTAGGED = 0;

/**
 * What a protocol tells a session (`MultiplexedSession`, `SerialSession`): how a call is written
 * and what an inbound message is. The session owns everything else: tags or the FIFO, the pending
 * calls, abandoned calls, limits, closing. One codec instance per session (it may keep state:
 * a reusable reader, a Mux fragment table).
 */
export interface SessionCodec<Req, Rep> {
  /**
   * The outcome of a call that gets no reply (Thrift oneway), settled once it is written; or
   * undefined when a reply is expected. Called once per call: keep it a field read.
   */
  oneway(req: Req): Rep | undefined;
  /**
   * Writes `req` as one message under `tag` (`UNTAGGED` for oneway calls and serial sessions):
   * `conn.beginMessage()`, encode into `conn.writer`, `conn.endMessage(mark)`, and
   * `conn.abortMessage(mark)` before rethrowing when encoding fails. A throw fails this call only.
   */
  write(conn: Connection, req: Req, tag: number): void;
  /**
   * Reads one inbound message and tells the session what it is, through `s`: a reply (`s.reply`),
   * a failure of one call (`s.fail`), a protocol violation (`s.violation`), or nothing at all for
   * a control message the codec answers itself (Mux Tping: write an Rping on `s.conn`). A throw
   * closes the connection as a violation.
   */
  read(message: Buffer, s: SessionControl<Req, Rep>): void;
  /** `read` of the message in buf[start, end), without a Buffer of its own (optional: the session uses it when present). */
  readRange?(buf: Buffer, start: number, end: number, s: SessionControl<Req, Rep>): void;
  /**
   * A written call was abandoned (timeout, cancel): its caller already has its error. Mux sends
   * Tdiscarded here. The tag stays reserved either way until the peer's answer for it is read
   * (`s.reply` or `s.fail`, then dropped) or the connection closes. Not called once the
   * connection is closing. Must not throw.
   */
  abandoned?(tag: number, req: Req, s: SessionControl<Req, Rep>): void;
}

/** A codec for a `MultiplexedSession`: replies are matched by tag. */
export interface MultiplexedCodec<Req, Rep> extends SessionCodec<Req, Rep> {
  /** The tags calls may use (never `UNTAGGED`) and which free one goes next. */
  readonly tags: TagSpace;
}

/**
 * The session as its codec sees it. In a `SerialSession` every `tag` argument is ignored: the call
 * concerned is always the oldest one still owed an answer.
 */
export interface SessionControl<Req, Rep> {
  /** For writing back (Rping, Rdrain, Tdiscarded): between beginMessage and endMessage. */
  readonly conn: Connection;
  /**
   * The request of the call holding `tag`, abandoned or not, or undefined when no call does (so
   * a codec can check a reply against its call: Thrift's method name).
   */
  request(tag: number): Req | undefined;
  /**
   * The answer for `tag`: frees the tag, and hands `rep` to the caller unless it gave up (then
   * the reply is dropped: nobody else can see it). A tag no call holds is a violation.
   */
  reply(tag: number, rep: Rep): void;
  /** Like `reply`, for an answer that fails the call (Mux Rdiscarded, an Rerr on a call's tag). */
  fail(tag: number, err: ScalesError): void;
  /** The peer broke the protocol: the connection closes and every pending call fails. */
  violation(message: string, cause?: unknown): void;
  /** Accept no new calls (status 'closed') and end the connection once none is in flight (Mux Tdrain). */
  drain(): void;
  /** New calls are welcome for `ms` more; then status is 'busy' until the next lease (Mux Tlease). */
  lease(ms: number): void;
}
