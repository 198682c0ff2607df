/**
 * The one queue of calls waiting for a connection, shared by every pool.
 *
 * FIFO with intrusive links (O(1) removal on cancel), and a second intrusive list of the same
 * waiters in expiry order with ONE timer for its head, instead of a `setTimeout` per waiter.
 * A waiter's wait ends at its call's deadline (TimeoutError, unwritten) or at the pool's
 * `waitTimeout` (OverloadedError), whichever is first. Calls mostly share one timeout, so they
 * arrive in expiry order and the sorted insert (from the tail) is O(1) in practice.
 *
 * `take()` is the single point where a waiter is handed a connection: admission control lives
 * there (see its comment).
 */
import { MAX_TIMER_MS, performance } from '../core/clock.js';
import type { ScalesError } from '../core/errors.js';
import type { CallContext, ReplyHandler } from '../core/service.js';

/** A call waiting for a connection. Links live in the waiter itself: no allocation beyond it. */
export class Waiter<Req, Rep> {
  /** FIFO links. */
  prev: Waiter<Req, Rep> | undefined = undefined;
  next: Waiter<Req, Rep> | undefined = undefined;
  /** Expiry-order links (only while `expiresAt` is finite). */
  earlier: Waiter<Req, Rep> | undefined = undefined;
  later: Waiter<Req, Rep> | undefined = undefined;
  queued = false;
  /** `performance.now()` when the wait ends; Infinity: only a cancel or a connection ends it. */
  expiresAt = Infinity;
  /** The wait ends at the call's deadline (rather than at the pool's waitTimeout). */
  byDeadline = false;

  constructor(
    readonly req: Req,
    readonly ctx: CallContext,
    readonly handler: ReplyHandler<Rep>,
  ) {}
}

/** The error a waiter whose wait ended fails with (TimeoutError when `w.byDeadline`, else OverloadedError). */
export type WaitExpiredError = (w: Waiter<unknown, unknown>) => ScalesError;

export class WaiterQueue<Req, Rep> {
  private head: Waiter<Req, Rep> | undefined = undefined;
  private tail: Waiter<Req, Rep> | undefined = undefined;
  private first: Waiter<Req, Rep> | undefined = undefined;
  private last: Waiter<Req, Rep> | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;
  /** `expiresAt` the timer is armed for (Infinity: none). */
  private armedFor = Infinity;
  private readonly onTimer = (): void => this.fire();

  /** Waiters in the queue. */
  size = 0;
  /** Timers armed so far (for tests: the queue shares one, it does not make one per waiter). */
  timersArmed = 0;

  /**
   * @param waitTimeout longest wait in ms (Infinity: only the call's deadline bounds it)
   * @param expiredError the error a waiter whose wait ended fails with
   */
  constructor(
    private readonly waitTimeout: number,
    private readonly expiredError: WaitExpiredError,
  ) {}

  /** Queues a call; its deadline, the waitTimeout and its cancellation apply from now on. */
  add(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    const w = new Waiter<Req, Rep>(req, ctx, handler);
    w.queued = true;
    w.prev = this.tail;
    if (this.tail === undefined) this.head = w;
    else this.tail.next = w;
    this.tail = w;
    this.size++;
    const deadline = ctx.expiresAt;
    const now = performance.now();
    const byTimeout = now + this.waitTimeout;
    if (deadline !== undefined && deadline < byTimeout) {
      w.expiresAt = deadline;
      w.byDeadline = true;
    } else w.expiresAt = byTimeout;
    if (w.expiresAt !== Infinity) {
      this.insertByExpiry(w);
      if (w.expiresAt < this.armedFor) this.arm(w.expiresAt, now);
    }
    ctx.onCancel((reason) => {
      if (this.remove(w)) handler.onError(reason);
    });
  }

  /**
   * THE admission point: the next waiter to hand a connection to, out of the queue and with its
   * cancellation hook cleared (the connection registers its own), or undefined when none is left.
   *
   * Today's rule: a waiter whose wait already ended (deadline or waitTimeout passed, its timer
   * not run yet because the loop was busy) is never handed a connection; it fails as its timer
   * would have failed it. Admission control (the hardening issue, next) goes here and only here: refuse a
   * waiter whose remaining time cannot cover the call, shed early, serve LIFO under
   * overload / CoDel. Every pool hands connections to waiters through this method.
   */
  take(): Waiter<Req, Rep> | undefined {
    let now = 0;
    for (let w = this.head; w !== undefined; w = this.head) {
      this.remove(w);
      w.ctx.onCancel(undefined);
      if (w.expiresAt !== Infinity) {
        if (now === 0) now = performance.now();
        if (w.expiresAt <= now) {
          this.expire(w);
          continue;
        }
      }
      return w;
    }
    return undefined;
  }

  /** Fails every waiter with `err` (pool closed, connects failing). */
  failAll(err: ScalesError): void {
    for (let w = this.head; w !== undefined; w = this.head) {
      this.remove(w);
      w.ctx.onCancel(undefined);
      w.handler.onError(err);
    }
  }

  /** Takes `w` out of the queue; false when it had already left. */
  private remove(w: Waiter<Req, Rep>): boolean {
    if (!w.queued) return false;
    w.queued = false;
    if (w.prev === undefined) this.head = w.next;
    else w.prev.next = w.next;
    if (w.next === undefined) this.tail = w.prev;
    else w.next.prev = w.prev;
    w.prev = w.next = undefined;
    this.size--;
    if (w.expiresAt !== Infinity) {
      if (w.earlier === undefined) this.first = w.later;
      else w.earlier.later = w.later;
      if (w.later === undefined) this.last = w.earlier;
      else w.later.earlier = w.earlier;
      w.earlier = w.later = undefined;
      // A timer armed for a waiter that left just fires early and re-arms; none is kept for nothing.
      if (this.first === undefined && this.timer !== undefined) {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.armedFor = Infinity;
      }
    }
    return true;
  }

  /** Links `w` into expiry order, after every waiter due no later (ties keep arrival order). */
  private insertByExpiry(w: Waiter<Req, Rep>): void {
    let after = this.last;
    while (after !== undefined && after.expiresAt > w.expiresAt) after = after.earlier;
    w.earlier = after;
    if (after === undefined) {
      w.later = this.first;
      this.first = w;
    } else {
      w.later = after.later;
      after.later = w;
    }
    if (w.later === undefined) this.last = w;
    else w.later.earlier = w;
  }

  // Capped like DeadlineList: a head further out than a timer reaches just means arming again.
  private arm(at: number, now: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(this.onTimer, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - now))));
    this.armedFor = at;
    this.timersArmed++;
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = performance.now();
    try {
      for (let w = this.first; w !== undefined && w.expiresAt <= now; w = this.first) {
        this.remove(w);
        w.ctx.onCancel(undefined);
        this.expire(w);
      }
    } finally {
      if (this.first !== undefined && this.timer === undefined) this.arm(this.first.expiresAt, now);
    }
  }

  private expire(w: Waiter<Req, Rep>): void {
    const err = this.expiredError(w as Waiter<unknown, unknown>);
    // The deadline passed: the call as a whole is over, as the timeout layer would have said.
    if (w.byDeadline) w.ctx.cancel(err);
    w.handler.onError(err);
  }
}
