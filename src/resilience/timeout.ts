import { MAX_TIMER_MS, performance, turnNow } from '../core/clock.js';
import { ForwardingService } from '../core/filter.js';
import { CancelledError, TimeoutError, type ScalesError } from '../core/errors.js';
import type { CallContext, ReplyHandler, Service } from '../core/service.js';
import { layer, type StackLayer } from '../core/stack.js';
import { unwatchAbort, watchAbort, type AbortWatcher } from '../core/abort-watch.js';
import { type DeadlineEntry, type DeadlineList, DeadlineLists } from './deadline-list.js';

/**
 * One call with a deadline or a signal. It settles at the deadline even if a layer below ignores
 * cancellation, so nothing waits forever; the outcome that arrives later is dropped here.
 */
class DeadlineHandler<Rep> implements ReplyHandler<Rep>, DeadlineEntry, AbortWatcher {
  private settled = false;
  /** Only for a call none of its layer's DeadlineLists took (due before each tail). */
  private timer: NodeJS.Timeout | undefined = undefined;
  /** Watching the caller's signal (one listener per signal however many calls share it: core/abort-watch). */
  private watching = false;
  /** Watching the request being served that made the call (ctx.parent). */
  private watchingParent = false;
  expiresAt = 0;
  prevDeadline: DeadlineEntry | undefined = undefined;
  nextDeadline: DeadlineEntry | undefined = undefined;
  deadlineList: DeadlineList | undefined = undefined;

  constructor(
    private readonly ctx: CallContext,
    private readonly next: ReplyHandler<Rep>,
  ) {}

  /** `expiresAt`: finite, or undefined for a call with only a signal. */
  arm(expiresAt: number | undefined, deadlines: DeadlineLists): void {
    const ctx = this.ctx;
    if (expiresAt !== undefined) {
      this.expiresAt = expiresAt;
      if (!deadlines.add(this)) this.armOwnTimer();
    }
    const signal = ctx.signal;
    if (signal !== undefined) {
      this.watching = true;
      watchAbort(signal, this);
    }
    const parent = ctx.parent;
    if (parent !== undefined && !this.settled) {
      this.watchingParent = true;
      parent.watchCancel(this);
    }
  }

  /** The caller's signal aborted, or the request that made the call was cancelled. */
  aborted(reason: unknown): void {
    this.fail(new CancelledError(`${this.ctx.method} cancelled`, { cause: reason, endpoint: this.ctx.endpoint }));
  }

  onReply(rep: Rep, at?: number): void {
    // A reply handed over after the deadline (the event loop was blocked, so the timer could not
    // fire first; or decoding it took that long) is a timeout, not a late success.
    if (this.expiresAt !== 0 && turnNow() >= this.expiresAt) return this.expire();
    if (this.settle()) this.next.onReply(rep, at);
  }

  // Likewise a failure handed over after the deadline: the caller asked for an outcome by then.
  onError(err: unknown, at?: number): void {
    if (this.expiresAt !== 0 && turnNow() >= this.expiresAt) return this.expire();
    if (this.settle()) this.next.onError(err, at);
  }

  expire(): void {
    const ctx = this.ctx;
    const waiting = ctx.endpoint === undefined ? '' : ` (waiting for ${ctx.endpoint})`;
    this.fail(new TimeoutError(`${ctx.method} timed out after ${Math.round(this.expiresAt - ctx.start)} ms${waiting}`, { endpoint: ctx.endpoint }));
  }

  /** For a call its list refused: a timer of its own, armed again if the deadline is beyond a timer's reach. */
  armOwnTimer(): void {
    const left = this.expiresAt - performance.now();
    this.timer = left > MAX_TIMER_MS ? setTimeout(rearm, MAX_TIMER_MS, this) : setTimeout(timedOut, Math.max(0, left), this);
  }

  /** The deadline passed or the caller aborted: free the caller now, tell the holder to abandon. */
  private fail(err: ScalesError): void {
    if (!this.settle()) return;
    const ctx = this.ctx;
    ctx.cancel(err);
    this.next.onError(ctx.cancelled ?? err);
  }

  /** True the first time (the outcome that counts). */
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.deadlineList?.remove(this);
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.watching) unwatchAbort(this.ctx.signal!, this);
    if (this.watchingParent) this.ctx.parent!.unwatchCancel(this);
    return true;
  }
}

// Plain functions with an argument: setTimeout then needs no closure per call.
function timedOut(h: DeadlineHandler<unknown>): void {
  h.expire();
}

function rearm(h: DeadlineHandler<unknown>): void {
  h.armOwnTimer();
}

/**
 * Enforces the call's deadline, the caller's AbortSignal and the cancellation of the request
 * being served that made the call (`ctx.parent`): when any fires, the layer that
 * holds the call is told to abandon it (see CallContext), so the caller is freed at once and the
 * connection below decides what to do with the late reply.
 */
class TimeoutService<Req, Rep> extends ForwardingService<Req, Rep> {
  private readonly deadlines = new DeadlineLists();

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    if (ctx.expiresAt === undefined && ctx.signal === undefined && ctx.parent === undefined) this.down.dispatch(req, ctx, handler);
    else this.dispatchWithDeadline(req, ctx, handler);
  }

  private dispatchWithDeadline(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    const expiresAt = ctx.expiresAt;
    const signal = ctx.signal;
    if (signal?.aborted) return handler.onError(new CancelledError(`${ctx.method} cancelled before it was sent`, { cause: signal.reason }));
    const parentGone = ctx.parent?.cancelReason;
    if (parentGone !== undefined) return handler.onError(new CancelledError(`${ctx.method} cancelled before it was sent: the request it serves was`, { cause: parentGone }));
    // Measured from the call's start (read microseconds ago, when the proxy made the context): no clock read.
    if (expiresAt !== undefined && expiresAt <= ctx.start) return handler.onError(new TimeoutError(`${ctx.method}: deadline passed before the call was sent`));
    const h = new DeadlineHandler(ctx, handler);
    h.arm(expiresAt, this.deadlines);
    this.down.dispatch(req, ctx, h);
  }
}

export function timeoutLayer(): StackLayer {
  return layer('timeout', 'enforces the call deadline and AbortSignal; frees the caller at once', (below: Service<unknown, unknown>) => new TimeoutService(below));
}
