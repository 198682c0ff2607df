/**
 * What a protocol supplies to serve calls: a codec that reads one inbound message into a request
 * and writes the answers. The dispatcher (session.ts, dispatcher.ts) does everything else: the
 * server stack, concurrency, backpressure, drain, exactly one answer per request.
 *
 * `In` is one inbound message as the transport delivers it (a frame's bytes; a ZeroMQ multipart
 * message), `Out` where answers go (a framed `Connection`; a ZeroMQ socket). Thrift's is in
 * src/protocols/thrift/server-codec.ts.
 */
import type { ContextValues } from '../core/context-key.js';

/** One decoded call. Protocols extend it with their own fields (Thrift: seqid, method descriptor). */
export interface ServerRequest {
  /** The method called (a name the handler has: unknown names never become requests). */
  readonly method: string;
  /**
   * The handler's positional arguments followed by ONE free slot, which the server fills with the
   * request context: the handler is then called with `args` as they are, no copy.
   */
  readonly args: unknown[];
  /** No answer is owed (Thrift oneway, ZeroMQ push). Only for methods declared oneway. */
  readonly oneway: boolean;
  /** The caller's deadline from the wire, in `Date.now()` ms (Mux Deadline context), if any. */
  readonly deadline: number | undefined;
  /** Per-call values from the wire (Mux contexts, ZeroRPC headers), if any. */
  readonly values: ContextValues | undefined;
}

/** A call naming a method the service does not have: answered at once, never dispatched. */
export class UnknownMethod<Tag = unknown> {
  constructor(
    /** The name as received, truncated (see MAX_ECHOED_NAME): a hostile name is never echoed whole. */
    readonly name: string,
    /** The protocol's id of the call (Thrift seqid, Mux tag, ZeroRPC message id). */
    readonly tag: Tag,
    readonly oneway: boolean,
  ) {}
}

/** Longest method name a codec echoes back in an unknown-method answer. */
export const MAX_ECHOED_NAME = 128;

/** What an application-error answer reports. */
export type ServerErrorKind = 'internal' | 'timeout';

/**
 * Every `write...` sends one whole message or throws having sent nothing (roll back a half-encoded
 * message). A throw from encoding a user value (does not match the IDL, too large) makes the
 * dispatcher answer `internal` instead; a throw of ConnectionClosedError or OverloadedError (the
 * transport refused) closes that session.
 */
export interface ServerCodec<In, Out, Req extends ServerRequest> {
  /**
   * Reads one inbound message: a request, an `UnknownMethod` (answered at once), or undefined when
   * the message was the codec's own business (a ping). Throws a ProtocolError for a malformed
   * message, which closes the session.
   */
  decode(message: In, out: Out): Req | UnknownMethod | undefined;
  /** `decode` of the message in buf[start, end), without a Buffer of its own (optional: byte-stream sessions use it when present). */
  decodeRange?(buf: Buffer, start: number, end: number, out: Out): Req | UnknownMethod | undefined;
  /** The handler's result. */
  writeReply(out: Out, req: Req, value: unknown): void;
  /** True when `err` is one of the method's declared (IDL) exceptions. Must not throw. */
  isDeclared(req: Req, err: unknown): boolean;
  /** A declared exception (`isDeclared` said so). */
  writeDeclared(out: Out, req: Req, err: unknown): void;
  /** An application error: the handler failed outside the IDL, or ran past its deadline. */
  writeError(out: Out, req: Req, kind: ServerErrorKind, message: string): void;
  /** "Overloaded, try elsewhere": the request was not run (Mux: NACK). */
  writeOverloaded(out: Out, req: Req, message: string): void;
  /** The answer to an unknown method (never called for oneway ones). */
  writeUnknown(out: Out, call: UnknownMethod): void;
  /** Optional: tell the peer this session drains (Mux Tdrain). Called once, when draining starts. */
  writeDrain?(out: Out): void;
  /**
   * Optional, instead of writeDrain: a drain the peer acknowledges (Mux: Tdrain, then Rdrain).
   * The codec sends the notice and from then on refuses new requests itself (Mux: NACK, so they
   * go elsewhere); the session keeps reading until the returned promise settles (at most
   * `drainAckMs`, default 1000), then drains as usual (writeDrain is still called then: make it
   * do nothing twice). Undefined: nothing to wait for.
   */
  startDrain?(out: Out): Promise<void> | undefined;
  /** How long a session waits for the peer's drain acknowledgement (ms). */
  readonly drainAckMs?: number;
  /**
   * Optional: the peer's FIN means it is gone, not that it sent its last request (a protocol
   * without half-close: Mux). The session then aborts what runs and closes, as on a reset.
   * Absent or false: a half-close, and the running requests are still answered.
   */
  peerEndIsGone?(out: Out): boolean;
}
