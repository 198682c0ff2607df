/**
 * The 'hedging' role (Finagle's BackupRequestFilter, "The Tail at Scale"): when a call has no
 * reply after `delay` ms, send the same request again; the first successful answer wins and the
 * other attempt is cancelled. Opt-in, and only for calls that may run twice on the peer.
 *
 * The delay is fixed. Finagle derives it from a latency percentile (p99 for 1% extra load); a
 * fixed delay near your p95–p99 does the same job without a histogram on the hot path, and the
 * budget below caps the extra load if latency shifts.
 *
 * Each attempt gets its own CallContext (the cancellation slot holds one owner): this layer
 * holds the caller's slot and forwards a cancel to both attempts. Place it above the load
 * balancer so the backup can go to another node; a lost attempt is abandoned like a timed-out
 * call (the session drops its late reply, the connection stays open).
 */
import { CancelledError, InvalidArgumentError, type ScalesError } from '../core/errors.js';
import type { CallContext, Service, Status } from '../core/service.js';
import type { StackLayer } from '../core/stack.js';
import { defaultClassifier, type ResponseClassifier } from '../core/classify.js';
import { RetryBudget } from './retry-budget.js';

export class HedgingStats {
  /** Calls that could be hedged (idempotent ones). */
  requests = 0;
  /** Backup attempts sent. */
  backups = 0;
  /** Calls answered by the backup attempt. */
  backupWins = 0;
  /** Backups not sent because the budget was empty. */
  budgetExhausted = 0;
}

export interface HedgingOptions {
  /** Send the backup after this many ms without a reply (required; ≥ 1, as Finagle's minSendBackupAfterMs). */
  delay: number;
  /**
   * Caps the extra load (default: RetryBudget with percentCanRetry 0.01 and Finagle's 10 s ttl
   * and 10/s reserve — what Finagle builds for maxExtraLoad = 1%).
   */
  budget?: RetryBudget;
  /** Which calls may be hedged (default: all — adding the layer declares the client's calls idempotent, as with Finagle's filter). */
  idempotent?: (ctx: CallContext) => boolean;
  stats?: HedgingStats;
  /** The protocol's classifier: a rejection it calls a success (a declared exception) is an answer that wins the race. */
  classifier?: ResponseClassifier;
}

const always = (): boolean => true;

/** One hedged call: two attempts racing, settled once. */
class Race<Req, Rep> {
  private readonly first: CallContext;
  private second: CallContext | undefined = undefined;
  private pending = 1;
  private done = false;
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly owner: HedgingService<Req, Rep>,
    private readonly req: Req,
    private readonly parent: CallContext,
    private readonly resolve: (rep: Rep) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.first = parent.child();
  }

  start(delay: number): void {
    this.parent.onCancel(this.onParentCancel);
    this.send(this.first);
    // No backup the deadline would cut off anyway.
    if (!this.done && this.parent.remaining() > delay) this.timer = setTimeout(this.onDelay, delay);
  }

  private send(ctx: CallContext): void {
    this.owner.below.call(this.req, ctx).then(
      (rep) => this.settle(ctx, true, rep),
      (err: unknown) => this.settle(ctx, false, err),
    );
  }

  private readonly onDelay = (): void => {
    this.timer = undefined;
    if (this.done) return;
    const stats = this.owner.stats;
    if (!this.owner.budget.tryWithdraw()) {
      stats.budgetExhausted++;
      return;
    }
    stats.backups++;
    const p = this.parent;
    this.second = p.child();
    this.pending++;
    this.send(this.second);
  };

  private readonly onParentCancel = (reason: ScalesError): void => {
    if (this.done) return;
    this.finish();
    this.first.cancel(reason);
    this.second?.cancel(reason);
    this.reject(reason);
  };

  private settle(from: CallContext, ok: boolean, value: unknown): void {
    if (this.done) return;
    this.pending--;
    // A declared exception is an answer too: it wins like a reply.
    const answered = ok || this.owner.classifier.classify(false, value) === 'success';
    if (!answered && this.pending > 0) return; // the other attempt may still answer
    this.finish();
    this.parent.onCancel(undefined);
    const loser = from === this.first ? this.second : this.first;
    if (loser !== undefined && this.pending > 0) loser.cancel(new CancelledError(`${this.parent.method}: superseded by a hedged attempt`));
    if (from === this.second && answered) this.owner.stats.backupWins++;
    if (ok) this.resolve(value as Rep);
    else this.reject(value);
  }

  private finish(): void {
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export class HedgingService<Req, Rep> implements Service<Req, Rep> {
  readonly budget: RetryBudget;
  readonly stats: HedgingStats;
  private readonly delay: number;
  private readonly idempotent: (ctx: CallContext) => boolean;
  /** @internal */
  readonly classifier: ResponseClassifier;

  constructor(
    readonly below: Service<Req, Rep>,
    options: HedgingOptions,
  ) {
    if (!(Number.isFinite(options.delay) && options.delay >= 1)) throw new InvalidArgumentError(`hedging delay must be >= 1 ms, got ${String(options.delay)}`);
    this.delay = options.delay;
    this.budget = options.budget ?? new RetryBudget({ percentCanRetry: 0.01 });
    this.stats = options.stats ?? new HedgingStats();
    this.idempotent = options.idempotent ?? always;
    this.classifier = options.classifier ?? defaultClassifier;
  }

  get status(): Status {
    return this.below.status;
  }

  close(): Promise<void> {
    return this.below.close();
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    if (!this.idempotent(ctx)) return this.below.call(req, ctx);
    if (ctx.cancelled !== undefined) return Promise.reject(ctx.cancelled);
    this.stats.requests++;
    this.budget.deposit();
    return new Promise<Rep>((resolve, reject) => new Race(this, req, ctx, resolve, reject).start(this.delay));
  }
}

export interface HedgingLayer extends StackLayer {
  readonly stats: HedgingStats;
  readonly budget: RetryBudget;
}

export function hedgingLayer(options: HedgingOptions): HedgingLayer {
  const budget = options.budget ?? new RetryBudget({ percentCanRetry: 0.01 });
  const stats = options.stats ?? new HedgingStats();
  const resolved: HedgingOptions = { ...options, budget, stats };
  return {
    role: 'hedging',
    description: `sends a backup request after ${options.delay} ms without a reply (budget ${budget.percentCanRetry * 100}% + ${budget.minRetriesPerSec}/s); first answer wins`,
    make: (below: unknown) => new HedgingService(below as Service<unknown, unknown>, resolved),
    stats,
    budget,
  };
}
