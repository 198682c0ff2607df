import { performance } from '../core/clock.js';
import { callByDispatch } from '../core/dispatch.js';
import { ClosedError, ConnectionClosedError, OverloadedError, ProtocolError, type ScalesError } from '../core/errors.js';
import type { CallContext, ReplyHandler, Service, Status } from '../core/service.js';
import type { Connection } from '../transport/index.js';
import { UNTAGGED, type SessionCodec, type SessionControl } from './codec.js';
import { deliverError, reportHandlerBug } from './report.js';
import type { Slot } from './slot.js';

export interface SessionOptions {
  /**
   * Calls that timed out or were cancelled but whose replies have not arrived yet. Past this
   * many the peer is presumed stuck and the connection is closed (default 1024).
   */
  maxAbandoned?: number;
  /** Most calls in flight on this connection (default 65536); more fail with OverloadedError. */
  maxInFlight?: number;
}

export const DEFAULT_MAX_IN_FLIGHT = 65536;

/**
 * What every session over one Connection shares, whatever the order replies come back in:
 * dispatch, exactly one outcome per call, the abandoned-call guard, limits, drain, fail-all on
 * close. Subclasses say where a call waits (`MultiplexedSession`: a table by tag;
 * `SerialSession`: a FIFO) and which waiting call an answer belongs to.
 *
 * The guard against "the Scales bug" (a late reply handed to the next caller): an abandoned call
 * frees its caller at once but keeps its place until its late answer is read and dropped, so the
 * place is never given to another call while an answer for it may still arrive. An answer that
 * matches no waiting call means the peer and we disagree about the stream: the connection is
 * closed and every pending call fails.
 */
export abstract class SessionBase<Req, Rep> implements Service<Req, Rep> {
  protected abandonedCount = 0;
  private readonly maxAbandoned: number;
  private readonly control: SessionControl<Req, Rep>;
  private closeError: ScalesError | undefined = undefined;
  private draining = false;
  /** `performance.now()` when the peer's lease runs out (Infinity: none was given). */
  private leaseEnd = Infinity;
  /** Someone waits for the session to become idle (whenIdle, drain): replies check for it. */
  private watchIdle = false;
  private idlePromise: Promise<void> | undefined = undefined;
  private idleResolve: (() => void) | undefined = undefined;
  /** The socket keeps the process alive: only while a call waits for its reply (see holdWhileBusy). */
  private holding = true;

  constructor(
    protected readonly conn: Connection,
    protected readonly codec: SessionCodec<Req, Rep>,
    options: SessionOptions,
  ) {
    this.maxAbandoned = options.maxAbandoned ?? 1024;
    // The codec's view of the session: a separate object, so only the codec can answer calls.
    const control: SessionControl<Req, Rep> = {
      conn,
      request: (tag) => this.find(tag)?.req,
      reply: (tag, rep) => this.reply(tag, rep),
      fail: (tag, err) => this.fail(tag, err),
      violation: (message, cause) => this.violation(message, cause),
      drain: () => this.drain(),
      lease: (ms) => this.lease(ms),
    };
    this.control = control;
    conn.onMessage = (message) => codec.read(message, control);
    if (codec.readRange !== undefined) conn.onFrame = (buf, start, end) => codec.readRange!(buf, start, end, control);
    conn.onClose = (err) => this.onClose(err);
    // No call yet (the subclass's fields are not even set up: no inFlight to ask).
    this.holding = false;
    conn.holdProcess(false);
  }

  /**
   * An idle client connection must not keep Node alive (a client nobody closed would hang the
   * process); a call waiting for its reply must (nothing else may be pending: no timeout, no
   * other I/O). Abandoned calls do not hold it: their callers already have their answer.
   */
  private holdWhileBusy(): void {
    const busy = this.inFlight - this.abandonedCount > 0;
    if (busy !== this.holding) {
      this.holding = busy;
      this.conn.holdProcess(busy);
    }
  }

  /** Calls holding a tag or a place in the queue, abandoned ones included. */
  protected abstract get inFlight(): number;
  /** Takes a place for a new call (not filled yet), or undefined when the session is full. */
  protected abstract reserve(): Slot<Req, Rep> | undefined;
  /** Gives back a place taken by `reserve` for a call whose write failed. */
  protected abstract unreserve(slot: Slot<Req, Rep>): void;
  /** The busy slot an answer for `tag` belongs to, or undefined. */
  protected abstract find(tag: number): Slot<Req, Rep> | undefined;
  /** `find`, and frees the slot's place (the caller clears the slot). */
  protected abstract take(tag: number): Slot<Req, Rep> | undefined;
  /** Frees every busy slot's place and returns those slots, in call order (the connection closed). */
  protected abstract takeAll(): Slot<Req, Rep>[];
  /** The violation message for an answer no call is waiting for. */
  protected abstract unmatched(tag: number): string;

  get endpoint(): string {
    return this.conn.endpoint;
  }

  /** Calls waiting for a reply (abandoned ones excluded): the load the pool balances on. */
  get load(): number {
    return this.inFlight - this.abandonedCount;
  }

  /** Abandoned calls whose late replies are still owed (a one-call-per-connection pool must not reuse the connection). */
  get abandoned(): number {
    return this.abandonedCount;
  }

  /** 'closed' once closing or draining; 'busy' while the socket pushes back or the peer's lease ran out. */
  get status(): Status {
    if (this.conn.closing || this.draining) return 'closed';
    if (this.conn.writableNeedsDrain) return 'busy';
    if (this.leaseEnd !== Infinity && performance.now() > this.leaseEnd) return 'busy';
    return 'open';
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    return callByDispatch(this, req, ctx);
  }

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    if (this.conn.closing || this.draining) return handler.onError(this.closedError(true));
    if (ctx.cancelled !== undefined) return handler.onError(ctx.cancelled);
    const codec = this.codec;
    const none = codec.oneway(req);
    if (none !== undefined) {
      try {
        codec.write(this.conn, req, UNTAGGED);
      } catch (err) {
        return handler.onError(err);
      }
      return handler.onReply(none);
    }
    const slot = this.reserve();
    if (slot === undefined) return handler.onError(new OverloadedError('too many calls in flight on one connection', { endpoint: this.endpoint }));
    try {
      codec.write(this.conn, req, slot.tag);
    } catch (err) {
      this.unreserve(slot);
      return handler.onError(err);
    }
    slot.fill(req, ctx, handler);
    ctx.onCancel(slot.cancel);
    if (!this.holding) this.holdWhileBusy();
  }

  /** Graceful: no new calls; replies still owed keep arriving until the peer closes (see Connection.end). */
  close(): Promise<void> {
    return this.conn.end();
  }

  /** Destroys the connection now; abandoned calls' late replies are never read. */
  abort(): void {
    this.conn.close(new ClosedError('connection discarded by its pool', { endpoint: this.endpoint }));
  }

  /**
   * Resolves once no call is in flight, abandoned ones included (at once if none is), or once
   * the connection closed (every call has failed then). A pool's graceful close waits on it.
   */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    if (this.idlePromise === undefined) {
      this.idlePromise = new Promise((resolve) => (this.idleResolve = resolve));
      this.watchIdle = true;
    }
    return this.idlePromise;
  }

  /** Makes the slot for a new place; its `cancel` closure lives as long as the slot. */
  protected initSlot(slot: Slot<Req, Rep>): Slot<Req, Rep> {
    slot.cancel = (reason) => this.abandon(slot, reason);
    return slot;
  }

  private reply(tag: number, rep: Rep): void {
    const slot = this.take(tag);
    if (slot === undefined) return this.violation(this.unmatched(tag));
    if (slot.abandoned) {
      slot.clear();
      this.abandonedCount--; // the late reply is read and dropped: nobody else can see it
    } else {
      const handler = slot.handler!;
      const ctx = slot.ctx!;
      slot.clear(); // before the handler runs: it may start a call that gets this very slot
      ctx.onCancel(undefined);
      try {
        // The socket read that carried the reply: the layers above need no clock read.
        handler.onReply(rep, this.conn.readAt);
      } catch (err) {
        reportHandlerBug(err);
      }
    }
    if (this.holding) this.holdWhileBusy();
    if (this.watchIdle && this.inFlight === 0) this.becameIdle();
  }

  private fail(tag: number, err: ScalesError): void {
    const slot = this.take(tag);
    if (slot === undefined) return this.violation(this.unmatched(tag));
    if (slot.abandoned) {
      slot.clear();
      this.abandonedCount--;
    } else {
      const handler = slot.handler!;
      slot.ctx!.onCancel(undefined);
      slot.clear();
      deliverError(handler, err);
    }
    if (this.holding) this.holdWhileBusy();
    if (this.watchIdle && this.inFlight === 0) this.becameIdle();
  }

  private abandon(slot: Slot<Req, Rep>, reason: ScalesError): void {
    if (!slot.busy || slot.abandoned) return;
    const handler = slot.handler!;
    slot.abandoned = true;
    slot.handler = undefined;
    slot.ctx = undefined;
    this.abandonedCount++;
    if (this.holding) this.holdWhileBusy();
    const tell = this.codec.abandoned;
    if (tell !== undefined && !this.conn.closing) {
      try {
        tell.call(this.codec, slot.tag, slot.req!, this.control);
      } catch (err) {
        reportHandlerBug(err);
      }
    }
    deliverError(handler, reason);
    if (this.abandonedCount > this.maxAbandoned) {
      this.conn.close(new ProtocolError(`more than ${this.maxAbandoned} abandoned calls still unanswered: closing the connection`, { endpoint: this.endpoint }));
    }
  }

  private violation(message: string, cause?: unknown): void {
    this.conn.close(new ProtocolError(message, { endpoint: this.endpoint, cause }));
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    this.watchIdle = true;
    if (this.inFlight === 0) this.becameIdle();
  }

  private lease(ms: number): void {
    this.leaseEnd = performance.now() + ms;
  }

  private becameIdle(): void {
    const resolve = this.idleResolve;
    this.idleResolve = undefined;
    this.idlePromise = undefined;
    this.watchIdle = this.draining;
    if (this.draining && !this.conn.closing) void this.conn.end();
    if (resolve !== undefined) resolve();
  }

  private onClose(err: ScalesError | undefined): void {
    this.closeError = err;
    const slots = this.takeAll();
    this.abandonedCount = 0;
    for (const slot of slots) {
      const abandoned = slot.abandoned;
      const handler = slot.handler;
      const ctx = slot.ctx;
      slot.clear();
      if (abandoned) continue;
      ctx!.onCancel(undefined);
      deliverError(handler!, this.closedError());
    }
    this.becameIdle();
  }

  /** `unwritten`: for a call refused before it was written (safe to send elsewhere). */
  private closedError(unwritten = false): ScalesError {
    const cause = this.closeError;
    if (cause instanceof ConnectionClosedError && !unwritten) return cause;
    const message = cause ? `connection closed: ${cause.message}` : this.conn.closed ? 'connection closed' : this.draining ? 'the peer is draining the connection' : 'connection is closing';
    return new ConnectionClosedError(message, { endpoint: this.endpoint, cause, unwritten });
  }
}
