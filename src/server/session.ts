import { ConnectionClosedError, OverloadedError, ProtocolError, ScalesError } from '../core/errors.js';
import type { ServerErrorKind, ServerRequest, UnknownMethod } from './codec.js';
import { ServerRequestContext, type RequestOwner } from './context.js';
import type { ServerDispatcher } from './dispatcher.js';
import { describeError, isInstance, report } from './safe.js';

/**
 * The transport-neutral half of serving one peer (a TCP connection, a ZeroMQ peer): it turns each
 * request read into a context sent down the server stack, and each outcome into exactly one
 * answer through the codec. Transports subclass it (stream-session.ts) for reading, pausing,
 * and closing.
 */
export abstract class ServerSession<Out, Req extends ServerRequest> implements RequestOwner<Req> {
  /** Requests read and not yet answered (oneway: not yet finished). */
  inFlight = 0;
  /** Contexts whose signal was made: aborted if this session dies first. */
  private watched: Set<ServerRequestContext<Req>> | undefined = undefined;

  constructor(
    protected readonly dispatcher: ServerDispatcher<Out, Req>,
    readonly out: Out,
    readonly peer: string,
  ) {}

  abstract get closed(): boolean;
  /** Closes the transport now (the session's requests are aborted through `abortAll`). */
  abstract close(err?: ScalesError): void;
  /** Stop reading, answer what runs, then close gracefully. Resolves once closed. */
  abstract drain(): Promise<void>;
  /** A request was answered: `inFlight` went down (resume reading, finish a drain). */
  protected abstract settled(): void;

  /** Sends one decoded request down the server stack. */
  protected serve(req: Req, start: number): void {
    this.inFlight++;
    const ctx = new ServerRequestContext<Req>(this, req, start);
    this.dispatcher.dispatch(req, ctx);
  }

  /** Answers a call to a method the service does not have. */
  protected answerUnknown(call: UnknownMethod): void {
    if (call.oneway || this.closed) return;
    try {
      this.dispatcher.codec.writeUnknown(this.out, call);
    } catch (err) {
      this.close(transportError(err, this.peer));
    }
  }

  watch(ctx: ServerRequestContext<Req>): void {
    if (this.closed) {
      ctx.abort(new ConnectionClosedError(`the caller ${this.peer} is gone`, { endpoint: this.peer }));
      return;
    }
    (this.watched ??= new Set()).add(ctx);
  }

  /** Aborts every request whose signal was made (disconnect, shutdown). */
  abortAll(reason: ScalesError): void {
    const w = this.watched;
    if (w === undefined) return;
    this.watched = undefined;
    for (const ctx of w) ctx.abort(reason);
  }

  settle(ctx: ServerRequestContext<Req>, ok: boolean, outcome: unknown): void {
    if (ctx.settled) return;
    ctx.settled = true;
    const req = ctx.request;
    if (!req.oneway && !this.closed) {
      if (ok) this.writeReply(req, outcome);
      else this.writeFailure(req, outcome);
    }
    this.watched?.delete(ctx);
    this.inFlight--;
    this.settled();
  }

  private writeReply(req: Req, value: unknown): void {
    try {
      this.dispatcher.codec.writeReply(this.out, req, value);
    } catch (err) {
      this.writeFailed(req, err, 'result');
    }
  }

  /**
   * A failure from the stack: the server's own timeout or overload (ScalesErrors made by the
   * deadline and concurrency roles), a mapped handler failure (ScalesError APPLICATION), or a
   * declared exception. Anything else (a stack without the errors role) is an internal error.
   */
  private writeFailure(req: Req, err: unknown): void {
    const codec = this.dispatcher.codec;
    try {
      if (isInstance(err, ScalesError)) {
        const code = err.code;
        if (code === 'SCALES_ERR_OVERLOADED') return codec.writeOverloaded(this.out, req, err.message);
        const kind: ServerErrorKind = code === 'SCALES_ERR_TIMEOUT' ? 'timeout' : 'internal';
        return codec.writeError(this.out, req, kind, err.message);
      }
      if (codec.isDeclared(req, err)) return codec.writeDeclared(this.out, req, err);
      codec.writeError(this.out, req, 'internal', `Internal error processing ${req.method}`);
    } catch (writeErr) {
      this.writeFailed(req, writeErr, 'error');
    }
  }

  /** Writing an answer threw: the value did not encode (answer INTERNAL instead), or the transport refused. */
  private writeFailed(req: Req, err: unknown, what: string): void {
    if (isInstance(err, ConnectionClosedError) || isInstance(err, OverloadedError)) {
      this.close(err);
      return;
    }
    report(this.dispatcher.onError, err, `encoding the ${what} of ${req.method}`);
    try {
      this.dispatcher.codec.writeError(this.out, req, 'internal', `${req.method} returned a value that cannot be sent: ${describeError(err)}`);
    } catch (again) {
      this.close(transportError(again, this.peer));
    }
  }
}

/** A ScalesError for closing a session after `err` (kept when already one). */
export function transportError(err: unknown, peer: string): ScalesError {
  if (isInstance(err, ScalesError)) return err;
  return new ProtocolError(`cannot answer ${peer}: ${describeError(err)}`, { endpoint: peer, cause: err });
}
