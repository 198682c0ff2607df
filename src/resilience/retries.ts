/**
 * The 'retries' role: sends a failed call again when that is safe (`isRetryable`), the retry
 * budget allows it, the call's deadline leaves room for the backoff, and the caller has not
 * cancelled. It sits above the serializer and the balancer, so a retry may go to another node.
 *
 * Cancellation: the same CallContext goes down on every attempt. While an attempt is in flight
 * the layer below holds the context's cancellation slot (and lets go when it settles); while
 * this layer waits out a backoff it holds the slot itself, so a cancel clears the timer and fails
 * the call at once.
 */
import { InvalidArgumentError, type ScalesError } from '../core/errors.js';
import { performance } from '../core/clock.js';
import { ForwardingService } from '../core/filter.js';
import type { CallContext, ReplyHandler, Service } from '../core/service.js';
import type { StackLayer } from '../core/stack.js';
import { noBackoff, type Backoff } from './backoff.js';
import { defaultClassifier, type ResponseClassifier } from '../core/classify.js';
import { isRetryable as defaultIsRetryable } from './classifier.js';
import { RetryBudget } from './retry-budget.js';

/** Counters for stats; shared by every service the layer makes. */
export class RetryStats {
  /** Calls that entered the layer. */
  requests = 0;
  /** Retries sent. */
  retries = 0;
  /** Retryable failures not retried because the budget was empty. */
  budgetExhausted = 0;
}

export interface RetriesOptions {
  /** Shared with other layers/clients if you want one budget (default: a new RetryBudget with Finagle's defaults: 20% + 10/s over 10 s). */
  budget?: RetryBudget;
  /** Wait before retry n (default none, as Finagle's requeue backoff; consider fullJitterBackoff for peers that fail under load). */
  backoff?: Backoff;
  /** Most retries per call (default 2, i.e. 3 attempts at most, Finagle MethodBuilder's default). */
  maxRetries?: number;
  /** Whether a call may run twice on the peer (default: none is): idempotent calls are also retried after a connection loss or protocol error. */
  idempotent?: (ctx: CallContext) => boolean;
  /** Overrides the retry decision (default: `isRetryable` in resilience/classifier.ts). */
  isRetryable?: (err: unknown, idempotent: boolean) => boolean;
  /** The protocol's classifier: a failure it calls `retryable` (a NACK) is retried whatever the method (default: none is). */
  classifier?: ResponseClassifier;
  /** Counters to fill (default: a new RetryStats, also on the layer as `stats`). */
  stats?: RetryStats;
}

const never = (): boolean => false;

/** One call through the retries layer: the same handler carries every attempt. */
class RetryHandler<Req, Rep> implements ReplyHandler<Rep> {
  private attempt = 0;

  constructor(
    private readonly service: RetriesService<Req, Rep>,
    readonly req: Req,
    readonly ctx: CallContext,
    readonly next: ReplyHandler<Rep>,
  ) {}

  onReply(rep: Rep, at?: number): void {
    this.next.onReply(rep, at);
  }

  onError(err: unknown, at?: number): void {
    this.service.retry(this, err, ++this.attempt, at);
  }

  send(): void {
    this.service.send(this);
  }
}

export class RetriesService<Req, Rep> extends ForwardingService<Req, Rep> {
  private readonly budget: RetryBudget;
  private readonly backoff: Backoff;
  private readonly maxRetries: number;
  private readonly idempotent: (ctx: CallContext) => boolean;
  private readonly retryable: (err: unknown, idempotent: boolean) => boolean;
  private readonly classifier: ResponseClassifier;
  readonly stats: RetryStats;

  constructor(below: Service<Req, Rep>, options: RetriesOptions = {}) {
    super(below);
    this.budget = options.budget ?? new RetryBudget();
    this.backoff = options.backoff ?? noBackoff;
    this.maxRetries = options.maxRetries ?? 2;
    if (!(Number.isInteger(this.maxRetries) && this.maxRetries >= 0)) throw new InvalidArgumentError(`maxRetries must be an integer >= 0, got ${String(options.maxRetries)}`);
    this.idempotent = options.idempotent ?? never;
    this.retryable = options.isRetryable ?? defaultIsRetryable;
    this.classifier = options.classifier ?? defaultClassifier;
    this.stats = options.stats ?? new RetryStats();
  }

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    this.stats.requests++;
    this.budget.deposit(ctx.startEpoch);
    this.down.dispatch(req, ctx, new RetryHandler(this, req, ctx, handler));
  }

  /** @internal Sends attempt n + 1 of a call through `h` after failed attempt n, or fails it. */
  retry(h: RetryHandler<Req, Rep>, err: unknown, attempt: number, at: number | undefined): void {
    let delay: number;
    try {
      delay = this.retryDelay(err, h.ctx, attempt);
    } catch (e) {
      return h.next.onError(e); // a throwing isRetryable/idempotent predicate fails the call with its error
    }
    if (delay < 0) return h.next.onError(err, at);
    this.stats.retries++;
    if (delay > 0) return sleep(delay, h);
    // Not from inside the failed attempt's own callback: the session failing it may be in the
    // middle of failing its other calls too.
    queueMicrotask(() => h.send());
  }

  /** @internal */
  send(h: RetryHandler<Req, Rep>): void {
    this.down.dispatch(h.req, h.ctx, h);
  }

  /** The wait before retrying after failed attempt `attempt`, or -1 for "do not retry". */
  private retryDelay(err: unknown, ctx: CallContext, attempt: number): number {
    if (attempt > this.maxRetries) return -1;
    if (ctx.cancelled !== undefined || ctx.signal?.aborted === true) return -1;
    if (this.classifier.classify(false, err) !== 'retryable' && !this.retryable(err, this.idempotent(ctx))) return -1;
    const delay = Math.max(0, this.backoff(attempt));
    // Never start a retry the deadline would cut short before it is even sent.
    const expiresAt = ctx.expiresAt;
    if (expiresAt !== undefined && performance.now() + delay >= expiresAt) return -1;
    // The budget last, so that tokens go only to retries that will really be sent.
    if (!this.budget.tryWithdraw()) {
      this.stats.budgetExhausted++;
      return -1;
    }
    return delay;
  }
}

/** Waits `ms` before the next attempt, holding the context's cancellation slot meanwhile. */
function sleep<Req, Rep>(ms: number, h: RetryHandler<Req, Rep>): void {
  const timer = setTimeout(() => {
    h.ctx.onCancel(undefined);
    h.send();
  }, ms);
  h.ctx.onCancel((reason: ScalesError) => {
    clearTimeout(timer);
    h.next.onError(reason);
  });
}

/** The 'retries' role, with its counters (and budget) reachable for stats: `layer.stats.retries`. */
export interface RetriesLayer extends StackLayer {
  readonly stats: RetryStats;
  readonly budget: RetryBudget;
}

export function retriesLayer(options: RetriesOptions = {}): RetriesLayer {
  const budget = options.budget ?? new RetryBudget();
  const stats = options.stats ?? new RetryStats();
  const resolved: RetriesOptions = { ...options, budget, stats };
  const max = options.maxRetries ?? 2;
  return {
    role: 'retries',
    description: `retries safe failures (at most ${max} per call) within a budget of ${budget.percentCanRetry * 100}% + ${budget.minRetriesPerSec}/s`,
    make: (below: unknown) => new RetriesService(below as Service<unknown, unknown>, resolved),
    stats,
    budget,
  };
}
