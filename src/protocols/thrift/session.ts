import { BufferReader, BufferUnderflow } from '../../core/bytes.js';
import { ClosedError, ConnectionClosedError, OverloadedError, ProtocolError, type ScalesError } from '../../core/errors.js';
import { callByDispatch } from '../../core/dispatch.js';
import type { CallContext, ReplyHandler, Service, Status } from '../../core/service.js';
import { TagAllocator } from '../../core/tags.js';
import type { Connection } from '../../transport/index.js';
import { MessageType } from './descriptors.js';
import type { ThriftReply, ThriftRequest } from './messages.js';
import type { ThriftProtocol } from './protocol.js';

export interface ThriftSessionOptions {
  /**
   * Calls that timed out or were cancelled but whose replies have not arrived yet. Past this
   * many the peer is presumed stuck and the connection is closed (default 1024).
   */
  maxAbandoned?: number;
  /** Most calls in flight on this connection (default 65536); more fail with OverloadedError. */
  maxInFlight?: number;
}

interface Pending {
  readonly name: string;
  readonly ctx: CallContext;
  readonly handler: ReplyHandler<ThriftReply>;
  /** The caller gave up; the seqid stays reserved until the late reply is read and dropped. */
  abandoned: boolean;
}

/**
 * One Thrift connection carrying many calls at once (pipelining), matched by seqid.
 *
 * The Scales bug — a timed-out call's late reply handed to the next caller — cannot happen here:
 * a reply is delivered only to the pending call with the same seqid AND method name, and an
 * abandoned call keeps its seqid reserved until its late reply has been read and dropped, so the
 * id is never reused while a reply for it may still arrive. A reply that matches nothing means the
 * peer and we disagree about the stream: the connection is closed and every pending call fails.
 */
export class ThriftSession implements Service<ThriftRequest, ThriftReply> {
  private readonly tags: TagAllocator;
  private readonly pending: (Pending | undefined)[] = [];
  private abandonedCount = 0;
  private readonly maxAbandoned: number;
  private readonly reader = new BufferReader(Buffer.alloc(0));
  private closeError: ScalesError | undefined;

  constructor(
    private readonly conn: Connection,
    private readonly protocol: ThriftProtocol,
    options: ThriftSessionOptions = {},
  ) {
    this.maxAbandoned = options.maxAbandoned ?? 1024;
    this.tags = new TagAllocator(1, options.maxInFlight ?? 65536);
    conn.onMessage = (message) => this.onMessage(message);
    conn.onClose = (err) => this.onClose(err);
  }

  get endpoint(): string {
    return this.conn.endpoint;
  }

  /** Calls waiting for a reply (abandoned ones excluded): the load the pool balances on. */
  get load(): number {
    return this.tags.inUse - this.abandonedCount;
  }

  /** Abandoned calls whose late replies are still owed (a one-call-per-connection pool must not reuse the connection). */
  get abandoned(): number {
    return this.abandonedCount;
  }

  get status(): Status {
    if (this.conn.closing) return 'closed';
    return this.conn.writableNeedsDrain ? 'busy' : 'open';
  }

  call(req: ThriftRequest, ctx: CallContext): Promise<ThriftReply> {
    return callByDispatch(this, req, ctx);
  }

  dispatch(req: ThriftRequest, ctx: CallContext, handler: ReplyHandler<ThriftReply>): void {
    if (this.conn.closing) return handler.onError(this.closedError(true));
    if (ctx.cancelled !== undefined) return handler.onError(ctx.cancelled);
    const seqid = req.oneway ? 0 : this.tags.acquire();
    if (seqid < 0) return handler.onError(new OverloadedError('too many calls in flight on one connection', { endpoint: this.endpoint }));
    try {
      this.write(req, seqid);
    } catch (err) {
      if (!req.oneway) this.tags.release(seqid);
      return handler.onError(err);
    }
    if (req.oneway) return handler.onReply(ONEWAY_REPLY);
    this.pending[seqid] = { name: req.name, ctx, handler, abandoned: false };
    ctx.onCancel((reason) => this.abandon(seqid, reason));
  }

  close(): Promise<void> {
    return this.conn.end();
  }

  /** Destroys the connection now; abandoned calls' late replies are never read. */
  abort(): void {
    this.conn.close(new ClosedError('connection discarded by its pool', { endpoint: this.endpoint }));
  }

  private write(req: ThriftRequest, seqid: number): void {
    const conn = this.conn;
    const mark = conn.beginMessage();
    try {
      this.protocol.writeMessageHeader(conn.writer, req.name, req.oneway ? MessageType.ONEWAY : MessageType.CALL, seqid);
      conn.writer.writeBytes(req.body);
    } catch (err) {
      conn.abortMessage(mark);
      throw err;
    }
    conn.endMessage(mark);
  }

  private abandon(seqid: number, reason: ScalesError): void {
    const p = this.pending[seqid];
    if (p === undefined || p.abandoned) return;
    p.abandoned = true;
    this.abandonedCount++;
    deliverError(p.handler, reason);
    if (this.abandonedCount > this.maxAbandoned) {
      this.conn.close(new ProtocolError(`more than ${this.maxAbandoned} abandoned calls still unanswered: closing the connection`, { endpoint: this.endpoint }));
    }
  }

  private onMessage(message: Buffer): void {
    const r = this.reader;
    r.buf = message;
    r.pos = 0;
    r.end = message.length;
    let name: string;
    let type: MessageType;
    let seqid: number;
    try {
      ({ name, type, seqid } = this.protocol.readMessageHeader(r));
    } catch (err) {
      this.violation(err instanceof BufferUnderflow ? 'truncated reply header' : `bad reply header: ${(err as Error).message}`, err);
      return;
    }
    const p = this.pending[seqid];
    if (p === undefined) return this.violation(`reply for seqid ${seqid} (${name}) that no call is waiting for`);
    if (p.name !== name) return this.violation(`reply for seqid ${seqid} names method '${name}' but the call was '${p.name}'`);
    if (type !== MessageType.REPLY && type !== MessageType.EXCEPTION) return this.violation(`unexpected message type ${type} for seqid ${seqid}`);
    this.pending[seqid] = undefined;
    this.tags.release(seqid);
    if (p.abandoned) {
      this.abandonedCount--; // the late reply is read and dropped: nobody else can see it
      return;
    }
    p.ctx.onCancel(undefined);
    try {
      // The reply's arrival is the socket read that carried it: layers above need no clock read.
      p.handler.onReply({ type, message, offset: r.pos }, this.conn.readAt);
    } catch (err) {
      reportHandlerBug(err);
    }
  }

  private violation(message: string, cause?: unknown): void {
    this.conn.close(new ProtocolError(message, { endpoint: this.endpoint, cause }));
  }

  private onClose(err: ScalesError | undefined): void {
    this.closeError = err;
    const pending = this.pending;
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i];
      if (p === undefined) continue;
      pending[i] = undefined;
      if (!p.abandoned) {
        p.ctx.onCancel(undefined);
        deliverError(p.handler, this.closedError());
      }
    }
  }

  /** `unwritten`: for a call refused before it was written (safe to send elsewhere). */
  private closedError(unwritten = false): ScalesError {
    const cause = this.closeError;
    if (cause instanceof ConnectionClosedError && !unwritten) return cause;
    const message = cause ? `connection closed: ${cause.message}` : this.conn.closed ? 'connection closed' : 'connection is closing';
    return new ConnectionClosedError(message, { endpoint: this.endpoint, cause, unwritten });
  }
}

/**
 * A handler that throws is a bug above the session; it must not stop the session from reading
 * the next reply or failing its other calls. The error is thrown again outside, where it is seen.
 */
function reportHandlerBug(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

function deliverError(handler: ReplyHandler<ThriftReply>, err: unknown): void {
  try {
    handler.onError(err);
  } catch (bug) {
    reportHandlerBug(bug);
  }
}

const ONEWAY_REPLY: ThriftReply = { type: MessageType.REPLY, message: Buffer.alloc(0), offset: 0 };
