import { MAX_TIMER_MS, performance } from '../../core/clock.js';
import { TimeoutError } from '../../core/errors.js';
import type { ReplyHandler } from '../../core/service.js';
import { type DeadlineEntry, type DeadlineList, DeadlineLists } from '../../resilience/deadline-list.js';
import type { ServerRequest } from '../codec.js';
import type { ServerRequestContext } from '../context.js';
import { ServerFilter, serverLayer, type ServerService } from '../filter.js';

/**
 * One request under a deadline: when it passes first, the request's signal aborts and the caller
 * gets a timeout at once; the handler's late outcome is dropped. Either way, once.
 */
class DeadlineHandler implements ReplyHandler<unknown>, DeadlineEntry {
  prevDeadline: DeadlineEntry | undefined = undefined;
  nextDeadline: DeadlineEntry | undefined = undefined;
  deadlineList: DeadlineList | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  done = false;

  constructor(
    private readonly ctx: ServerRequestContext<ServerRequest>,
    readonly expiresAt: number,
    private readonly next: ReplyHandler<unknown>,
  ) {}

  expire(): void {
    if (this.done) return;
    const left = this.expiresAt - performance.now();
    if (left > 0) return this.arm(left); // a timer capped at MAX_TIMER_MS fired early
    this.done = true;
    this.timer = undefined;
    const ms = Math.round(performance.now() - this.ctx.start);
    const err = new TimeoutError(`${this.ctx.method} timed out: no answer within its deadline (${ms} ms after it arrived)`, { endpoint: this.ctx.peer });
    this.ctx.abort(err);
    this.next.onError(err);
  }

  arm(ms: number): void {
    this.timer = setTimeout(() => this.expire(), Math.min(MAX_TIMER_MS, Math.ceil(ms)));
  }

  private settle(): boolean {
    if (this.done) return false;
    this.done = true;
    if (this.deadlineList !== undefined) this.deadlineList.remove(this);
    else if (this.timer !== undefined) clearTimeout(this.timer);
    return true;
  }

  onReply(value: unknown): void {
    if (this.settle()) this.next.onReply(value);
  }

  onError(err: unknown): void {
    if (this.settle()) this.next.onError(err);
  }
}

/**
 * Role 'deadline': the earlier of the server's `requestTimeout` and the caller's deadline (when
 * the protocol carries one). Requests that share `requestTimeout`, or a caller's timeout, expire in
 * arrival order, so they share a list and its timer (DeadlineLists: a few such groups); others get
 * their own timer. A request already past its deadline is answered at once without running.
 */
export class DeadlineFilter<Req extends ServerRequest> extends ServerFilter<Req> {
  private readonly list = new DeadlineLists();

  constructor(
    below: ServerService<Req>,
    private readonly requestTimeout: number | undefined,
  ) {
    super(below);
  }

  dispatch(req: Req, ctx: ServerRequestContext<Req>, handler: ReplyHandler<unknown>): void {
    if (this.requestTimeout !== undefined) ctx.tighten(ctx.start + this.requestTimeout);
    const exp = ctx.expiresAt;
    if (exp === undefined) return this.down.dispatch(req, ctx, handler);
    const d = new DeadlineHandler(ctx as ServerRequestContext<ServerRequest>, exp, handler);
    const left = exp - performance.now();
    if (left <= 0) return d.expire();
    if (!this.list.add(d)) d.arm(left);
    this.down.dispatch(req, ctx, d);
  }
}

export function deadlineLayer<Req extends ServerRequest>(requestTimeout: number | undefined) {
  const what = requestTimeout === undefined ? 'the caller’s deadline when the protocol carries one' : `requestTimeout ${requestTimeout} ms, or the caller’s deadline if earlier`;
  return serverLayer<Req>('deadline', `${what}: aborts ctx.signal and answers a timeout at once`, (below) => new DeadlineFilter(below, requestTimeout));
}
