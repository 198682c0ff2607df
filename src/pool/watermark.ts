import { ClosedError, InvalidArgumentError } from '../core/errors.js';
import { dispatcherOf, type Dispatcher } from '../core/dispatch.js';
import type { CallContext, ReplyHandler, Status } from '../core/service.js';
import { turnNow } from '../core/clock.js';
import type { Backoff } from '../resilience/backoff.js';
import type { AdmissionOptions } from './admission.js';
import { count, ms, PoolBase } from './base.js';
import { Grace, idleOrGrace } from './drain.js';
import { InFlight } from './idle.js';
import type { Connector, PooledConnection } from './types.js';

export interface WatermarkPoolOptions {
  /** Connections kept open while idle, once opened (default 1; they are opened on demand). */
  lowWatermark?: number;
  /** Most connections to the node (default 8); more concurrent calls wait in the queue. */
  highWatermark?: number;
  /**
   * Calls allowed to queue for a connection beyond those the pool is opening (or may still open)
   * connections for, i.e. once highWatermark connections are busy or on their way (default 1000);
   * more fail at once with OverloadedError. 0: never queue (calls still open connections).
   */
  maxWaiters?: number;
  /** Longest wait for a connection in ms (default 5000; the call's deadline also applies). */
  waitTimeout?: number;
  /**
   * Who gets a freed connection under overload (admission.ts). Default: the newest waiter once
   * the queue has stood for 10 ms, and a waiter whose deadline is nearer than the time calls
   * take is refused rather than sent to time out in flight.
   */
  admission?: AdmissionOptions;
  /**
   * A call abandoned in flight (timeout, cancel) still owes its reply on its connection. The
   * connection is kept out of service until that reply arrives and is dropped, then reused; if it
   * has not arrived after this many ms the connection is closed (default 5000). Reconnecting at
   * once instead would cost a connect per timeout, and under overload most calls time out.
   */
  owedReplyTimeout?: number;
  /** Idle connections above the low watermark are closed after this many ms (default 30000). */
  idleTime?: number;
  /** Delay before connect attempt n+1 after n consecutive failures (default: equal jitter 100 ms → 10 s). */
  backoff?: Backoff;
  /** How long `close()` lets in-flight calls finish, in ms (default 10000). */
  closeGrace?: number;
  /** `host:port`, for errors. */
  endpoint?: string;
}

/**
 * One connection. It carries one call at a time, so it is also that call's reply handler: no
 * allocation per call.
 */
class Slot<Req, Rep> implements ReplyHandler<Rep> {
  /** The call on this connection, while there is one, and where its outcome goes. */
  ctx: CallContext | undefined = undefined;
  next: ReplyHandler<Rep> | undefined = undefined;
  idleSince = 0;
  /** close() was called on the connection (it happens once). */
  discarded = false;
  /** turnNow() when the current call was handed to the connection. */
  sentAt = 0;
  /** Waiting for an abandoned call's late reply before it can carry another call. */
  owedTimer: NodeJS.Timeout | undefined = undefined;
  readonly down: Dispatcher<Req, Rep>;

  constructor(
    readonly conn: PooledConnection<Req, Rep>,
    private readonly pool: WatermarkPool<Req, Rep>,
  ) {
    this.down = dispatcherOf(conn);
  }

  // The connection goes back to the pool (maybe to the next waiter) before the caller hears.
  onReply(rep: Rep, at?: number): void {
    const next = this.next!;
    this.next = undefined;
    this.pool.served(this, at);
    this.pool.release(this, false);
    next.onReply(rep, at);
  }

  onError(err: unknown, at?: number): void {
    const next = this.next!;
    this.next = undefined;
    this.pool.release(this, true);
    next.onError(err, at);
  }
}

/**
 * A pool for protocols that carry ONE call per connection at a time (HTTP/1.1, Thrift without
 * pipelining), after Scales' WatermarkPoolSink and Finagle's WatermarkPool + CachingPool:
 *
 * - up to `highWatermark` connections are opened on demand; above that, calls wait in a bounded
 *   FIFO (`maxWaiters`, `waitTimeout`, the call's deadline and cancellation all apply);
 * - a connection goes back to the pool only when it is idle AND healthy. A call abandoned in
 *   flight (timeout/cancel) leaves a late reply owed on its connection: that connection is kept
 *   out of service until the reply has arrived and been dropped (bounded by `owedReplyTimeout`,
 *   then closed), never handed to the next caller before (who could otherwise read the stale
 *   reply or wait behind it);
 * - under overload, who gets a freed connection is admission control's (admission.ts): waiters
 *   that cannot finish before their deadline are refused, and a standing queue serves the newest;
 * - idle connections above `lowWatermark` are closed after `idleTime` (the most recently used are
 *   reused first, so the extra ones are the ones that age out);
 * - while connects keep failing, no connect is tried for a backoff period: status is 'busy' and
 *   calls that need a new connection fail fast with ConnectError (unwritten).
 */
export class WatermarkPool<Req, Rep> extends PoolBase<Req, Rep> {
  private readonly low: number;
  private readonly high: number;
  private readonly idleTime: number;
  private readonly owedReplyTimeout: number;

  private readonly slots = new Set<Slot<Req, Rep>>();
  /** Idle connections, least recently used first (reuse pops from the end). */
  private readonly idleSlots: Slot<Req, Rep>[] = [];
  /** Calls on connections: the slots count them, so close() needs no whenIdle of theirs. */
  private readonly inFlight = new InFlight();
  private connecting = 0;
  private reapTimer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly connect: Connector<Req, Rep>,
    options: WatermarkPoolOptions = {},
  ) {
    const low = count('lowWatermark', options.lowWatermark ?? 1, 0);
    const high = count('highWatermark', options.highWatermark ?? 8, 1);
    if (low > high) throw new InvalidArgumentError(`lowWatermark (${low}) must be <= highWatermark (${high})`);
    super({
      maxWaiters: count('maxWaiters', options.maxWaiters ?? 1000, 0),
      waitTimeout: ms('waitTimeout', options.waitTimeout ?? 5000),
      backoff: options.backoff,
      closeGrace: options.closeGrace,
      endpoint: options.endpoint,
      name: 'connection pool',
      target: 'a connection',
      limits: `, highWatermark ${high}`,
      admission: options.admission ?? {},
    });
    this.low = low;
    this.high = high;
    this.idleTime = ms('idleTime', options.idleTime ?? 30_000);
    this.owedReplyTimeout = ms('owedReplyTimeout', options.owedReplyTimeout ?? 5000);
  }

  /** Connections open or being opened. */
  get size(): number {
    this.pruneIdle();
    return this.slots.size + this.connecting;
  }

  /** Open connections with no call on them. */
  get idle(): number {
    this.pruneIdle();
    return this.idleSlots.length;
  }

  /** Connections carrying a call. */
  get inUse(): number {
    return this.inFlight.n;
  }

  get status(): Status {
    if (this.closed) return 'closed';
    return this.gate.backingOff ? 'busy' : 'open';
  }

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    ctx.endpoint = this.endpoint;
    if (this.closed) return handler.onError(this.closedError());
    if (ctx.cancelled !== undefined) return handler.onError(ctx.cancelled);
    const idle = this.idleSlots;
    while (idle.length > 0) {
      const slot = idle.pop()!;
      if (slot.conn.status !== 'closed') return this.sendOn(slot, req, ctx, handler);
      this.slots.delete(slot); // closed by the peer while idle
    }
    this.wait(req, ctx, handler);
  }

  /**
   * Closes idle connections at once; a call still running after the grace is cut: its context
   * is cancelled with a ClosedError (its caller is freed at once; the request was sent, so it is
   * not `unwritten`) and its connection closed. A connection still owed a late reply closes
   * when it arrives, or when the connection's own close timeout passes.
   */
  protected async drain(graceMs: number): Promise<void> {
    if (this.reapTimer !== undefined) clearTimeout(this.reapTimer);
    this.reapTimer = undefined;
    const closes: Promise<void>[] = [];
    for (const slot of this.idleSlots.splice(0)) closes.push(this.discard(slot));
    if (this.inFlight.n > 0) {
      const grace = new Grace(graceMs);
      await idleOrGrace(this.inFlight.idle(), grace);
      grace.end();
    }
    if (this.inFlight.n > 0) {
      const cut = new ClosedError(`connection pool${this.where()} closed: call still running after the ${graceMs} ms grace period`, { endpoint: this.endpoint });
      for (const slot of [...this.slots]) slot.ctx?.cancel(cut);
    }
    // A slot still carrying a call was just cut (its connection may hear of the cancel only
    // later, through a promise), or waits for a late reply: a reply is owed on it, so it is
    // aborted, not ended.
    for (const slot of [...this.slots]) closes.push(this.discard(slot, slot.ctx !== undefined || slot.owedTimer !== undefined));
    await Promise.all(closes);
  }

  // ---- internals (release is called by Slot) --------------------------------------------------

  private sendOn(slot: Slot<Req, Rep>, req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    slot.ctx = ctx;
    slot.next = handler;
    if (this.serviceTime !== undefined) slot.sentAt = turnNow();
    this.inFlight.enter();
    slot.down.dispatch(req, ctx, slot);
  }

  /** @internal The call on `slot` got its reply at `at` (the read that carried it). */
  served(slot: Slot<Req, Rep>, at: number | undefined): void {
    this.serviceTime?.observe((at ?? turnNow()) - slot.sentAt);
  }

  /** @internal The call on `slot` settled. */
  release(slot: Slot<Req, Rep>, failed: boolean): void {
    const ctx = slot.ctx;
    slot.ctx = undefined;
    this.inFlight.leave(); // a close() waiting for it resumes in a later microtask
    const conn = slot.conn;
    // A rejected call whose context was cancelled was abandoned mid-flight: its reply is still
    // owed on this connection. `abandoned`/`load` catch the same from the connection's side.
    const poisoned = (failed && ctx !== undefined && ctx.cancelled !== undefined) || conn.load > 0 || (conn.abandoned ?? 0) > 0;
    const reusable = !this.closed && !poisoned && conn.status !== 'closed';
    if (reusable) this.handOff(slot);
    else if (poisoned && !this.closed && conn.status !== 'closed' && conn.whenIdle !== undefined) this.awaitOwedReply(slot, conn.whenIdle());
    else {
      void this.discard(slot, poisoned);
      if (!this.closed) this.grow();
    }
  }

  /**
   * Keeps `slot` out of service until the late reply owed on it has arrived (the session drops
   * it), then puts it back in service; closes it if the reply takes longer than owedReplyTimeout.
   * It still counts against highWatermark meanwhile: the node is still working on that call.
   */
  private awaitOwedReply(slot: Slot<Req, Rep>, idle: Promise<void>): void {
    slot.owedTimer = setTimeout(() => {
      slot.owedTimer = undefined;
      void this.discard(slot, true);
      this.grow();
    }, this.owedReplyTimeout);
    slot.owedTimer.unref();
    void idle.then(() => {
      if (slot.owedTimer === undefined) return; // closed meanwhile
      clearTimeout(slot.owedTimer);
      slot.owedTimer = undefined;
      // The late reply shows how long that call really held the connection.
      this.serviceTime?.observe(turnNow() - slot.sentAt);
      const conn = slot.conn;
      if (this.closed || conn.status === 'closed' || conn.load > 0 || (conn.abandoned ?? 0) > 0) {
        void this.discard(slot, conn.status !== 'closed');
        if (!this.closed) this.grow();
      } else this.handOff(slot);
    });
  }

  /** Gives a free connection to the next waiter (`fresh`: just opened), or parks it idle. */
  private handOff(slot: Slot<Req, Rep>, fresh = false): void {
    const w = this.queue.take(fresh);
    if (w !== undefined) return this.sendOn(slot, w.req, w.ctx, w.handler);
    slot.idleSince = Date.now();
    this.idleSlots.push(slot);
    if (this.reapTimer === undefined && this.slots.size + this.connecting > this.low) this.scheduleReap();
  }

  private wait(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    if (this.gate.backingOff && this.slots.size + this.connecting === 0) return handler.onError(this.gate.fastFail());
    // Waiters that connections being opened (or still allowed) will serve do not count against
    // maxWaiters: a cold pool takes the same burst as a warm one.
    const coverable = this.high - this.slots.size;
    if (this.enqueue(req, ctx, handler, this.maxWaiters + (coverable > 0 ? coverable : 0))) this.grow();
  }

  /** Opens connections for waiters not already covered by a connect in progress. */
  private grow(): void {
    const gate = this.gate;
    while (!this.closed && this.queue.size > this.connecting && this.slots.size + this.connecting < this.high) {
      // While failing: nothing during backoff, then one probe connect at a time.
      if (gate.failures > 0 && (gate.backingOff || this.connecting > 0)) {
        // The last connection went away during the backoff: nothing can serve the waiters until
        // it ends, and nothing would wake them then. Fail them fast, as new calls are.
        if (gate.backingOff && this.slots.size + this.connecting === 0) this.queue.failAll(gate.fastFail());
        return;
      }
      this.connecting++;
      this.connect().then(
        (conn) => this.connected(conn),
        (err: unknown) => this.connectFailed(err),
      );
    }
  }

  private connected(conn: PooledConnection<Req, Rep>): void {
    this.connecting--;
    this.gate.succeeded();
    const slot = new Slot(conn, this);
    this.slots.add(slot);
    if (this.closed) {
      void this.discard(slot);
      return;
    }
    this.handOff(slot, true);
    this.grow();
  }

  private connectFailed(err: unknown): void {
    this.connecting--;
    const e = this.gate.failed(err);
    // With no connection open or opening, nothing could ever serve the waiters.
    if (this.slots.size + this.connecting === 0) this.queue.failAll(e);
  }

  /** Closes the connection: gracefully, or at once (`abort`) when a reply is still owed on it. */
  private discard(slot: Slot<Req, Rep>, poisoned = false): Promise<void> {
    this.slots.delete(slot);
    if (slot.owedTimer !== undefined) {
      clearTimeout(slot.owedTimer);
      slot.owedTimer = undefined;
    }
    if (slot.discarded) return Promise.resolve();
    slot.discarded = true;
    const conn = slot.conn;
    if (poisoned && conn.abort !== undefined) {
      conn.abort();
      return Promise.resolve();
    }
    return conn.close().catch(() => undefined);
  }

  private pruneIdle(): void {
    const idle = this.idleSlots;
    for (let i = idle.length - 1; i >= 0; i--) {
      const slot = idle[i]!;
      if (slot.conn.status === 'closed') {
        idle.splice(i, 1);
        this.slots.delete(slot);
      }
    }
  }

  private scheduleReap(): void {
    const oldest = this.idleSlots[0];
    if (oldest === undefined || this.closed) return;
    const delay = oldest.idleSince + this.idleTime - Date.now();
    this.reapTimer = setTimeout(() => this.reap(), delay > 0 ? delay : 0);
    this.reapTimer.unref();
  }

  private reap(): void {
    this.reapTimer = undefined;
    this.pruneIdle();
    const idle = this.idleSlots;
    const now = Date.now();
    while (this.slots.size + this.connecting > this.low && idle.length > 0 && idle[0]!.idleSince + this.idleTime <= now) {
      void this.discard(idle.shift()!);
    }
    if (this.slots.size + this.connecting > this.low) this.scheduleReap();
  }
}
