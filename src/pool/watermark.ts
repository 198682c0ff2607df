import { MAX_TIMER_MS } from '../core/clock.js';
import { ClosedError, InvalidArgumentError, OverloadedError, TimeoutError, type ScalesError } from '../core/errors.js';
import { callByDispatch, dispatcherOf, type Dispatcher } from '../core/dispatch.js';
import type { CallContext, ReplyHandler, Service, Status } from '../core/service.js';
import type { Backoff } from '../resilience/backoff.js';
import { ConnectGate, DEFAULT_CLOSE_GRACE_MS, defaultConnectBackoff, type Connector, type PooledConnection } from './types.js';

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
  readonly down: Dispatcher<Req, Rep>;

  constructor(
    readonly conn: PooledConnection<Req, Rep>,
    private readonly pool: WatermarkPool<Req, Rep>,
  ) {
    this.down = dispatcherOf(conn);
  }

  // The connection goes back to the pool (maybe to the next waiter) before the caller hears.
  onReply(rep: Rep): void {
    const next = this.next!;
    this.next = undefined;
    this.pool.release(this, false);
    next.onReply(rep);
  }

  onError(err: unknown): void {
    const next = this.next!;
    this.next = undefined;
    this.pool.release(this, true);
    next.onError(err);
  }
}

/** A call waiting for a connection; a node of the FIFO's doubly linked list (O(1) removal). */
class Waiter<Req, Rep> {
  prev: Waiter<Req, Rep> | undefined = undefined;
  next: Waiter<Req, Rep> | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    readonly req: Req,
    readonly ctx: CallContext,
    readonly handler: ReplyHandler<Rep>,
  ) {}
}

/**
 * A pool for protocols that carry ONE call per connection at a time (HTTP/1.1, Thrift without
 * pipelining), after Scales' WatermarkPoolSink and Finagle's WatermarkPool + CachingPool:
 *
 * - up to `highWatermark` connections are opened on demand; above that, calls wait in a bounded
 *   FIFO (`maxWaiters`, `waitTimeout`, the call's deadline and cancellation all apply);
 * - a connection goes back to the pool only when it is idle AND healthy. A call abandoned in
 *   flight (timeout/cancel) leaves a late reply owed on its connection: that connection is closed,
 *   never handed to the next caller (who could otherwise read the stale reply or wait behind it);
 * - idle connections above `lowWatermark` are closed after `idleTime` (the most recently used are
 *   reused first, so the extra ones are the ones that age out);
 * - while connects keep failing, no connect is tried for a backoff period: status is 'busy' and
 *   calls that need a new connection fail fast with ConnectError (unwritten).
 */
export class WatermarkPool<Req, Rep> implements Service<Req, Rep> {
  private readonly low: number;
  private readonly high: number;
  private readonly maxWaiters: number;
  private readonly waitTimeout: number;
  private readonly idleTime: number;
  private readonly closeGrace: number;
  private readonly endpoint: string | undefined;
  private readonly gate: ConnectGate;

  private readonly slots = new Set<Slot<Req, Rep>>();
  /** Idle connections, least recently used first (reuse pops from the end). */
  private readonly idleSlots: Slot<Req, Rep>[] = [];
  private inUseCount = 0;
  private connecting = 0;
  private head: Waiter<Req, Rep> | undefined = undefined;
  private tail: Waiter<Req, Rep> | undefined = undefined;
  private waiting = 0;
  private reapTimer: NodeJS.Timeout | undefined = undefined;
  private closed = false;
  private closing: Promise<void> | undefined = undefined;
  private drained: (() => void) | undefined = undefined;

  constructor(
    private readonly connect: Connector<Req, Rep>,
    options: WatermarkPoolOptions = {},
  ) {
    this.low = count('lowWatermark', options.lowWatermark ?? 1, 0);
    this.high = count('highWatermark', options.highWatermark ?? 8, 1);
    if (this.low > this.high) throw new InvalidArgumentError(`lowWatermark (${this.low}) must be <= highWatermark (${this.high})`);
    this.maxWaiters = count('maxWaiters', options.maxWaiters ?? 1000, 0);
    this.waitTimeout = ms('waitTimeout', options.waitTimeout ?? 5000);
    this.idleTime = ms('idleTime', options.idleTime ?? 30_000);
    this.closeGrace = ms('closeGrace', options.closeGrace ?? DEFAULT_CLOSE_GRACE_MS);
    this.endpoint = options.endpoint;
    this.gate = new ConnectGate(options.backoff ?? defaultConnectBackoff(), this.endpoint);
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
    return this.inUseCount;
  }

  /** Calls waiting for a connection. */
  get waiters(): number {
    return this.waiting;
  }

  get status(): Status {
    if (this.closed) return 'closed';
    return this.gate.backingOff ? 'busy' : 'open';
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    return callByDispatch(this, req, ctx);
  }

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
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
   * Stops taking calls, fails the waiters (ClosedError, unwritten), closes idle connections, and
   * lets in-flight calls finish for up to `graceMs`. Calls still running then are cut: their
   * contexts are cancelled with a ClosedError (so their callers are freed at once; the request was
   * sent, so it is not `unwritten`) and their connections closed. Resolves once every connection
   * is closed (a connection still owed a late reply closes when it arrives, or when the
   * connection's own close timeout passes).
   */
  close(graceMs: number = this.closeGrace): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    if (this.reapTimer !== undefined) clearTimeout(this.reapTimer);
    this.reapTimer = undefined;
    this.failAllWaiters(this.closedError());
    const closes: Promise<void>[] = [];
    for (const slot of this.idleSlots.splice(0)) closes.push(this.discard(slot));
    this.closing = (async () => {
      if (this.inUseCount > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs);
          this.drained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.drained = undefined;
      }
      if (this.inUseCount > 0) {
        const cut = new ClosedError(`connection pool${this.where()} closed: call still running after the ${graceMs} ms grace period`, { endpoint: this.endpoint });
        for (const slot of [...this.slots]) slot.ctx?.cancel(cut);
      }
      for (const slot of [...this.slots]) closes.push(this.discard(slot));
      await Promise.all(closes);
    })();
    return this.closing;
  }

  // ---- internals (release is called by Slot) --------------------------------------------------

  private sendOn(slot: Slot<Req, Rep>, req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    slot.ctx = ctx;
    slot.next = handler;
    this.inUseCount++;
    slot.down.dispatch(req, ctx, slot);
  }

  /** @internal The call on `slot` settled. */
  release(slot: Slot<Req, Rep>, failed: boolean): void {
    const ctx = slot.ctx;
    slot.ctx = undefined;
    this.inUseCount--;
    const conn = slot.conn;
    // A rejected call whose context was cancelled was abandoned mid-flight: its reply is still
    // owed on this connection. `abandoned`/`load` catch the same from the connection's side.
    const poisoned = (failed && ctx !== undefined && ctx.cancelled !== undefined) || conn.load > 0 || (conn.abandoned ?? 0) > 0;
    const reusable = !this.closed && !poisoned && conn.status !== 'closed';
    if (!reusable) {
      void this.discard(slot, poisoned);
      if (this.closed) {
        if (this.inUseCount === 0 && this.drained !== undefined) this.drained();
      } else this.grow();
      return;
    }
    this.handOff(slot);
  }

  /** Gives a free connection to the first waiter, or parks it idle. */
  private handOff(slot: Slot<Req, Rep>): void {
    const w = this.head;
    if (w !== undefined) {
      this.unlink(w);
      w.ctx.onCancel(undefined);
      this.sendOn(slot, w.req, w.ctx, w.handler);
      return;
    }
    slot.idleSince = Date.now();
    this.idleSlots.push(slot);
    if (this.reapTimer === undefined && this.slots.size + this.connecting > this.low) this.scheduleReap();
  }

  private wait(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    if (this.gate.backingOff && this.slots.size + this.connecting === 0) return handler.onError(this.gate.fastFail());
    // Waiters that connections being opened (or still allowed) will serve do not count against
    // maxWaiters: a cold pool takes the same burst as a warm one.
    const coverable = this.high - this.slots.size;
    if (this.waiting - (coverable > 0 ? coverable : 0) >= this.maxWaiters) {
      return handler.onError(
        new OverloadedError(`${this.waiting} calls already wait for a connection${this.where()} (maxWaiters ${this.maxWaiters}, highWatermark ${this.high})`, { endpoint: this.endpoint }),
      );
    }
    const w = new Waiter<Req, Rep>(req, ctx, handler);
    this.link(w);
    const remaining = ctx.remaining();
    const byDeadline = remaining < this.waitTimeout;
    const delay = byDeadline ? remaining : this.waitTimeout;
    if (delay < MAX_TIMER_MS) w.timer = setTimeout(() => this.waitExpired(w, byDeadline), delay > 0 ? delay : 0);
    ctx.onCancel((reason) => {
      this.unlink(w);
      handler.onError(reason);
    });
    this.grow();
  }

  private waitExpired(w: Waiter<Req, Rep>, byDeadline: boolean): void {
    w.timer = undefined;
    this.unlink(w);
    w.ctx.onCancel(undefined);
    if (byDeadline) {
      const err = new TimeoutError(`${w.ctx.method}: deadline passed while waiting for a connection${this.where()}`, { endpoint: this.endpoint, unwritten: true });
      w.ctx.cancel(err);
      w.handler.onError(err);
    } else {
      w.handler.onError(new OverloadedError(`no connection${this.where()} became free within ${this.waitTimeout} ms (highWatermark ${this.high})`, { endpoint: this.endpoint }));
    }
  }

  /** Opens connections for waiters not already covered by a connect in progress. */
  private grow(): void {
    const gate = this.gate;
    while (!this.closed && this.waiting > this.connecting && this.slots.size + this.connecting < this.high) {
      // While failing: nothing during backoff, then one probe connect at a time.
      if (gate.failures > 0 && (gate.backingOff || this.connecting > 0)) {
        // The last connection went away during the backoff: nothing can serve the waiters until
        // it ends, and nothing would wake them then. Fail them fast, as new calls are.
        if (gate.backingOff && this.slots.size + this.connecting === 0) this.failAllWaiters(gate.fastFail());
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
    this.handOff(slot);
    this.grow();
  }

  private connectFailed(err: unknown): void {
    this.connecting--;
    const e = this.gate.failed(err);
    // With no connection open or opening, nothing could ever serve the waiters.
    if (this.slots.size + this.connecting === 0) this.failAllWaiters(e);
  }

  /** Closes the connection: gracefully, or at once (`abort`) when a reply is still owed on it. */
  private discard(slot: Slot<Req, Rep>, poisoned = false): Promise<void> {
    this.slots.delete(slot);
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

  private link(w: Waiter<Req, Rep>): void {
    w.prev = this.tail;
    if (this.tail === undefined) this.head = w;
    else this.tail.next = w;
    this.tail = w;
    this.waiting++;
  }

  /** Removes `w` from the queue (no-op when it already left) and stops its timer. */
  private unlink(w: Waiter<Req, Rep>): void {
    if (w.timer !== undefined) {
      clearTimeout(w.timer);
      w.timer = undefined;
    }
    if (w.prev === undefined && this.head !== w) return;
    if (w.prev === undefined) this.head = w.next;
    else w.prev.next = w.next;
    if (w.next === undefined) this.tail = w.prev;
    else w.next.prev = w.prev;
    w.prev = w.next = undefined;
    this.waiting--;
  }

  private failAllWaiters(err: ScalesError): void {
    for (let w = this.head; w !== undefined; w = this.head) {
      this.unlink(w);
      w.ctx.onCancel(undefined);
      w.handler.onError(err);
    }
  }

  private closedError(): ClosedError {
    return new ClosedError(`connection pool${this.where()} is closed`, { endpoint: this.endpoint, unwritten: true });
  }

  private where(): string {
    return this.endpoint === undefined ? '' : ` to ${this.endpoint}`;
  }
}

function count(name: string, v: number, min: number): number {
  if (!(Number.isInteger(v) && v >= min)) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

function ms(name: string, v: number): number {
  if (!(v >= 0)) throw new InvalidArgumentError(`${name} must be a number of ms >= 0, got ${String(v)}`);
  return v;
}
