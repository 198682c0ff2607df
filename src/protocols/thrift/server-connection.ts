import { BufferReader, BufferUnderflow } from '../../core/bytes.js';
import { runWithContext } from '../../core/context.js';
import { FrameTooLargeError, ProtocolError } from '../../core/errors.js';
import type { ServerCallContext } from '../../core/server-context.js';
import type { Connection } from '../../transport/index.js';
import { encodeApplicationException, TApplicationExceptionType } from './application-exception.js';
import { MessageType, ThriftException, type MethodDesc, type ServiceDesc } from './descriptors.js';
import type { ThriftProtocol } from './protocol.js';
import { describeError, isInstance, report, thenOf } from '../../server/safe.js';

export interface ServerConnectionOptions {
  /** Handlers running at once on one connection; reading pauses at the limit (default 128). */
  maxConcurrentPerConnection: number;
  /** Sets a deadline on every request this many ms after it arrived (default none). */
  requestTimeout: number | undefined;
  /** Run handlers inside an ambient context so nested client calls inherit the deadline (default true). */
  propagateContext: boolean;
  /** Put handler error messages into INTERNAL_ERROR replies (default true; turn off to hide internals). */
  exposeErrors: boolean;
  /** Called for every handler crash and every connection that fails (logging hook). */
  onError: ((err: unknown, where: string) => void) | undefined;
}

type HandlerFn = (...args: unknown[]) => unknown;

/**
 * Serves one accepted connection: reads calls, runs handlers concurrently, writes each reply as
 * soon as its handler settles (in any order; the client matches them by seqid). Malformed input
 * closes only this connection.
 */
export class ServerConnection {
  private inFlight = 0;
  private paused = false;
  private peerEnded = false;
  private readonly reader = new BufferReader(Buffer.alloc(0));
  private controller: AbortController | undefined;
  private drained: (() => void) | undefined;

  constructor(
    readonly conn: Connection,
    private readonly protocol: ThriftProtocol,
    private readonly service: ServiceDesc,
    private readonly handler: Record<string, HandlerFn>,
    private readonly options: ServerConnectionOptions,
    onClosed: () => void,
  ) {
    conn.onMessage = (m) => this.onMessage(m);
    conn.onPeerEnd = () => {
      // Half-close: the client sent its last call; finish the replies, then close our side.
      this.peerEnded = true;
      if (this.inFlight === 0) void conn.end();
    };
    conn.onClose = (err) => {
      if (err !== undefined) report(options.onError, err, `connection ${conn.endpoint}`);
      this.controller?.abort(err ?? new ProtocolError('connection closed'));
      onClosed();
    };
  }

  get peer(): string {
    return this.conn.endpoint;
  }

  /** One signal per connection, made on first use: Thrift has no per-call cancel on the wire. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.conn.closed) this.controller.abort();
    }
    return this.controller.signal;
  }

  private onMessage(message: Buffer): void {
    const r = this.reader;
    r.buf = message;
    r.pos = 0;
    r.end = message.length;
    let name: string;
    let type: MessageType;
    let seqid: number;
    let method: MethodDesc | undefined;
    let args: Record<string, unknown>;
    try {
      ({ name, type, seqid } = this.protocol.readMessageHeader(r));
      if (type !== MessageType.CALL && type !== MessageType.ONEWAY) {
        throw new ProtocolError(`expected a CALL or ONEWAY message, got type ${type}`);
      }
      method = Object.hasOwn(this.service.methods, name) ? this.service.methods[name] : undefined;
      if (method === undefined || typeof this.handler[name] !== 'function') {
        this.protocol.skipStruct(r);
        if (type === MessageType.CALL) {
          this.writeException(name, seqid, TApplicationExceptionType.UNKNOWN_METHOD, `Unknown method '${name}'`);
        }
        return;
      }
      args = this.protocol.readStruct(r, method.args) as Record<string, unknown>;
    } catch (err) {
      const reason = err instanceof BufferUnderflow ? new ProtocolError('truncated call message') : err instanceof ProtocolError ? err : new ProtocolError(`bad call message: ${describeError(err)}`, { cause: err });
      this.conn.close(new ProtocolError(`${reason.message} from ${this.conn.endpoint}`, { endpoint: this.conn.endpoint, cause: reason }));
      return;
    } finally {
      r.buf = EMPTY;
    }
    this.dispatch(method, type === MessageType.ONEWAY || method.oneway, seqid, args);
  }

  private dispatch(method: MethodDesc, oneway: boolean, seqid: number, args: Record<string, unknown>): void {
    const params = method.params;
    const argv: unknown[] = new Array(params.length + 1);
    for (let i = 0; i < params.length; i++) argv[i] = args[params[i]!];
    const deadline = this.options.requestTimeout === undefined ? undefined : Date.now() + this.options.requestTimeout;
    const ctx = new ThriftServerContext(method.name, deadline, this);
    argv[params.length] = ctx;
    const fn = this.handler[method.name]!;
    let result: unknown;
    let then: ReturnType<typeof thenOf>;
    try {
      result = this.options.propagateContext ? runWithContext(ctx, () => fn.apply(this.handler, argv)) : fn.apply(this.handler, argv);
      // Reading `then` runs user code too (a getter, a Proxy trap): a throw there is the call's failure.
      then = thenOf(result);
    } catch (err) {
      if (!oneway) this.replyError(method, seqid, err);
      else report(this.options.onError, err, `oneway ${method.name}`);
      return;
    }
    if (then === undefined) {
      if (!oneway) this.replySuccess(method, seqid, result);
      return;
    }
    // A thenable may call back twice, or both ways, or throw after calling back: one reply only.
    let settled = false;
    if (!oneway) this.began();
    const onValue = (value: unknown): void => {
      if (settled) return;
      settled = true;
      if (!oneway) {
        this.replySuccess(method, seqid, value);
        this.finished();
      }
    };
    const onFailure = (err: unknown): void => {
      if (settled) return;
      settled = true;
      if (oneway) {
        report(this.options.onError, err, `oneway ${method.name}`);
        return;
      }
      this.replyError(method, seqid, err);
      this.finished();
    };
    try {
      const chained = then.call(result, onValue, onFailure);
      // A native promise's chained promise rejects if a callback threw: never leave it unhandled.
      if (chained instanceof Promise) chained.catch(ignore);
    } catch (err) {
      onFailure(err);
    }
  }

  /** Graceful shutdown: read no more calls, finish the running ones, then close our side. */
  drain(): Promise<void> {
    this.peerEnded = true;
    this.conn.pauseReading();
    this.paused = true;
    return this.inFlight === 0 ? this.conn.end() : new Promise((resolve) => (this.drained = resolve));
  }

  private began(): void {
    if (++this.inFlight >= this.options.maxConcurrentPerConnection && !this.paused) {
      this.paused = true;
      this.conn.pauseReading();
    }
  }

  private finished(): void {
    this.inFlight--;
    if (this.paused && !this.peerEnded && this.inFlight < this.options.maxConcurrentPerConnection) {
      this.paused = false;
      this.conn.resumeReading();
    }
    if (this.peerEnded && this.inFlight === 0) {
      const ended = this.conn.end();
      if (this.drained !== undefined) ended.then(this.drained, this.drained);
    }
  }

  private replySuccess(method: MethodDesc, seqid: number, value: unknown): void {
    if (this.conn.closed) return;
    const conn = this.conn;
    const mark = conn.beginMessage();
    try {
      this.protocol.writeMessageHeader(conn.writer, method.name, MessageType.REPLY, seqid);
      this.protocol.writeStruct(conn.writer, method.result, { success: value });
    } catch (err) {
      conn.abortMessage(mark);
      report(this.options.onError, err, `encoding the result of ${method.name}`);
      this.writeException(method.name, seqid, TApplicationExceptionType.INTERNAL_ERROR, `${method.name} returned a value that does not match its IDL type: ${describeError(err)}`);
      return;
    }
    this.end(mark, method.name, seqid);
  }

  private replyError(method: MethodDesc, seqid: number, err: unknown): void {
    if (this.conn.closed) return;
    const field = declaredField(method, err);
    if (field !== undefined) {
      const conn = this.conn;
      const mark = conn.beginMessage();
      try {
        this.protocol.writeMessageHeader(conn.writer, method.name, MessageType.REPLY, seqid);
        this.protocol.writeStruct(conn.writer, method.result, { [field]: err });
        this.end(mark, method.name, seqid);
        return;
      } catch (encodeErr) {
        conn.abortMessage(mark);
        report(this.options.onError, encodeErr, `encoding the exception of ${method.name}`);
      }
    }
    report(this.options.onError, err, `handler ${method.name}`);
    const detail = this.options.exposeErrors ? `: ${describeError(err)}` : '';
    this.writeException(method.name, seqid, TApplicationExceptionType.INTERNAL_ERROR, `Internal error processing ${method.name}${detail}`);
  }

  private writeException(name: string, seqid: number, type: number, message: string): void {
    if (this.conn.closed) return;
    const conn = this.conn;
    const mark = conn.beginMessage();
    try {
      this.protocol.writeMessageHeader(conn.writer, name, MessageType.EXCEPTION, seqid);
      encodeApplicationException(this.protocol, conn.writer, type, message);
    } catch (err) {
      conn.abortMessage(mark);
      report(this.options.onError, err, 'encoding an application exception');
      return;
    }
    this.end(mark, undefined, seqid);
  }

  /** Sends the message begun at `mark`; a reply over the frame limit becomes an INTERNAL_ERROR. */
  private end(mark: number, method: string | undefined, seqid: number): void {
    try {
      this.conn.endMessage(mark);
    } catch (err) {
      if (err instanceof FrameTooLargeError && method !== undefined) {
        report(this.options.onError, err, `reply to ${method}`);
        this.writeException(method, seqid, TApplicationExceptionType.INTERNAL_ERROR, `reply to ${method} too large: ${err.message}`);
        return;
      }
      // Reply too large or the client stopped reading: that connection is beyond saving.
      this.conn.close(err instanceof ProtocolError ? err : new ProtocolError(`cannot send reply: ${describeError(err)}`, { cause: err, endpoint: this.conn.endpoint }));
    }
  }
}

class ThriftServerContext implements ServerCallContext {
  constructor(
    readonly method: string,
    readonly deadline: number | undefined,
    private readonly connection: ServerConnection,
  ) {}

  get signal(): AbortSignal {
    return this.connection.signal;
  }

  get peer(): string {
    return this.connection.peer;
  }
}

const EMPTY = Buffer.alloc(0);

function ignore(): void {}

/** The result field a declared exception goes in, or undefined (not declared, or asking threw). */
function declaredField(method: MethodDesc, err: unknown): string | undefined {
  if (!isInstance(err, ThriftException)) return undefined;
  let name: unknown;
  try {
    name = err.thriftName;
  } catch {
    return undefined;
  }
  for (const f of method.result.fields) {
    if (f.id !== 0 && f.type.kind === 'struct' && f.type.struct().name === name) return f.name;
  }
  return undefined;
}
