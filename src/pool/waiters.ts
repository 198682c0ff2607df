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
 * there (see its comment and admission.ts).
 */
import { MAX_TIMER_MS, performance } from '../core/clock.js';
import type { ScalesError } from '../core/errors.js';
import type { CallContext, ReplyHandler } from '../core/service.js';
import type { ServiceTime } from './admission.js';

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

/**
 * The error a waiter whose wait ended fails with: TimeoutError when `w.byDeadline`, else
 * OverloadedError; `shed` when it was refused because it could not finish in time (OverloadedError).
 */
export type WaitExpiredError = (w: Waiter<unknown, unknown>, shed?: { leftMs: number; takesMs: number }) => ScalesError;

/** How `take()` chooses (admission.ts). */
export interface QueueAdmission {
  /** Serve the newest waiter once the queue has not been empty for this long (ms). */
  lifoAfter: number;
  /** Time calls keep a connection; waiters with less time left are refused. */
  serviceTime: ServiceTime | undefined;
}

const FIFO_ONLY: QueueAdmission = { lifoAfter: Infinity, serviceTime: undefined };

export class WaiterQueue<Req, Rep> {
  private head: Waiter<Req, Rep> | undefined = undefined;
  private tail: Waiter<Req, Rep> | undefined = undefined;
  private first: Waiter<Req, Rep> | undefined = undefined;
  private last: Waiter<Req, Rep> | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;
  /** `expiresAt` the timer is armed for (Infinity: none). */
  private armedFor = Infinity;
  private readonly onTimer = (): void => this.fire();
  /** When the queue last went from empty to not empty. */
  private nonEmptySince = 0;

  /** Waiters in the queue. */
  size = 0;
  /** Timers armed so far (for tests: the queue shares one, it does not make one per waiter). */
  timersArmed = 0;

  /**
   * @param waitTimeout longest wait in ms (Infinity: only the call's deadline bounds it)
   * @param expiredError the error a waiter whose wait ended fails with
   * @param admission how take() chooses (default: oldest first, nobody refused early)
   */
  constructor(
    private readonly waitTimeout: number,
    private readonly expiredError: WaitExpiredError,
    private readonly admission: QueueAdmission = FIFO_ONLY,
  ) {}

  /** Queues a call; its deadline, the waitTimeout and its cancellation apply from now on. */
  add(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    const w = new Waiter<Req, Rep>(req, ctx, handler);
    w.queued = true;
    w.prev = this.tail;
    if (this.tail === undefined) this.head = w;
    else this.tail.next = w;
    this.tail = w;
    const deadline = ctx.expiresAt;
    const now = performance.now();
    if (this.size++ === 0) this.nonEmptySince = now;
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
   * Every pool hands connections to waiters through this method.
   *
   * - A waiter whose wait already ended (its timer not run yet because the loop was busy) fails
   *   as its timer would have failed it.
   * - A waiter whose deadline is nearer than the time calls take (`serviceTime`) is refused with
   *   OverloadedError (unwritten, local): sent, it would time out in flight, wasting the node's
   *   work and the connection's time. The soonest-due are refused first, in expiry order.
   * - Once the queue has not been empty for `lifoAfter` ms it is standing (more arrives than is
   *   served): the newest waiter goes first, so the calls that succeed get their whole budget.
   *   Not for a connection just opened (`fresh`): waiting for connects is not overload, and a
   *   cold pool's first callers should not go last.
   */
  take(fresh = false): Waiter<Req, Rep> | undefined {
    if (this.head === undefined) return undefined;
    const now = performance.now();
    const takes = this.admission.serviceTime?.estimate ?? 0;
    if (takes > 0) this.shedHopeless(now, takes);
    const lifo = !fresh && now - this.nonEmptySince >= this.admission.lifoAfter;
    for (let w = lifo ? this.tail : this.head; w !== undefined; w = lifo ? this.tail : this.head) {
      this.remove(w);
      w.ctx.onCancel(undefined);
      if (w.expiresAt <= now) {
        this.expire(w);
        continue;
      }
      if (w.byDeadline && w.expiresAt - now < takes) {
        this.shed(w, now, takes);
        continue;
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

  /** Refuses the waiters, soonest due first, whose deadline is nearer than `takes` ms. */
  private shedHopeless(now: number, takes: number): void {
    for (let w = this.first; w?.byDeadline && w.expiresAt - now < takes; w = this.first) {
      this.remove(w);
      w.ctx.onCancel(undefined);
      if (w.expiresAt <= now) this.expire(w);
      else this.shed(w, now, takes);
    }
  }

  private shed(w: Waiter<Req, Rep>, now: number, takes: number): void {
    w.handler.onError(this.expiredError(w as Waiter<unknown, unknown>, { leftMs: w.expiresAt - now, takesMs: takes }));
  }

  private expire(w: Waiter<Req, Rep>): void {
    const err = this.expiredError(w as Waiter<unknown, unknown>);
    // The deadline passed: the call as a whole is over, as the timeout layer would have said.
    if (w.byDeadline) w.ctx.cancel(err);
    w.handler.onError(err);
  }
}
