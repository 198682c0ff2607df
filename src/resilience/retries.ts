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
import type { CallContext, Service, Status } from '../core/service.js';
import type { StackLayer } from '../core/stack.js';
import { noBackoff, type Backoff } from './backoff.js';
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
  /** Overrides the retry decision (default: classifier.isRetryable). */
  isRetryable?: (err: unknown, idempotent: boolean) => boolean;
  /** Counters to fill (default: a new RetryStats, also on the layer as `stats`). */
  stats?: RetryStats;
}

const never = (): boolean => false;

export class RetriesService<Req, Rep> implements Service<Req, Rep> {
  private readonly budget: RetryBudget;
  private readonly backoff: Backoff;
  private readonly maxRetries: number;
  private readonly idempotent: (ctx: CallContext) => boolean;
  private readonly retryable: (err: unknown, idempotent: boolean) => boolean;
  readonly stats: RetryStats;

  constructor(
    private readonly below: Service<Req, Rep>,
    options: RetriesOptions = {},
  ) {
    this.budget = options.budget ?? new RetryBudget();
    this.backoff = options.backoff ?? noBackoff;
    this.maxRetries = options.maxRetries ?? 2;
    if (!(Number.isInteger(this.maxRetries) && this.maxRetries >= 0)) throw new InvalidArgumentError(`maxRetries must be an integer >= 0, got ${String(options.maxRetries)}`);
    this.idempotent = options.idempotent ?? never;
    this.retryable = options.isRetryable ?? defaultIsRetryable;
    this.stats = options.stats ?? new RetryStats();
  }

  get status(): Status {
    return this.below.status;
  }

  close(): Promise<void> {
    return this.below.close();
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    this.stats.requests++;
    this.budget.deposit(ctx.startEpoch);
    // The first attempt pays one closure; the loop runs only after a failure (measured: ~35 ns
    // less per call than an async method wrapping every attempt).
    return this.below.call(req, ctx).then(undefined, (err: unknown) => this.retry(req, ctx, err));
  }

  private async retry(req: Req, ctx: CallContext, err: unknown): Promise<Rep> {
    for (let attempt = 1; ; attempt++) {
      const delay = this.retryDelay(err, ctx, attempt);
      if (delay < 0) throw err;
      this.stats.retries++;
      if (delay > 0) await sleep(delay, ctx);
      try {
        return await this.below.call(req, ctx);
      } catch (e) {
        err = e;
      }
    }
  }

  /** The wait before retrying after failed attempt `attempt`, or -1 for "do not retry". */
  private retryDelay(err: unknown, ctx: CallContext, attempt: number): number {
    if (attempt > this.maxRetries) return -1;
    if (ctx.cancelled !== undefined || ctx.signal?.aborted === true) return -1;
    if (!this.retryable(err, this.idempotent(ctx))) return -1;
    const delay = Math.max(0, this.backoff(attempt));
    // Never start a retry the deadline would cut short before it is even sent.
    if (ctx.deadline !== undefined && Date.now() + delay >= ctx.deadline) return -1;
    // The budget last, so that tokens go only to retries that will really be sent.
    if (!this.budget.tryWithdraw()) {
      this.stats.budgetExhausted++;
      return -1;
    }
    return delay;
  }
}

/** Waits `ms`, holding the context's cancellation slot meanwhile. */
function sleep(ms: number, ctx: CallContext): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      ctx.onCancel(undefined);
      resolve();
    }, ms);
    ctx.onCancel((reason: ScalesError) => {
      clearTimeout(timer);
      reject(reason);
    });
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
