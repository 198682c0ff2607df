import type { FirstResolutionOptions } from '../balancer/first-resolution.js';
import type { ClientStack } from './client-stack.js';
import type { RetryBudget, RetryBudgetOptions } from '../resilience/retry-budget.js';
import type { StatsRegistry } from '../stats/registry.js';
import type { ClientStackOptions, FailureAccrualConfig, HedgingConfig, LoadBalancerConfig, PoolConfig, RetryConfig } from './options.js';

/** An edit of a client's stacks by role name (`s.insertAfter(Role.retries, mine)`). */
export type StackEdit = (stack: ClientStack) => ClientStack;

/**
 * The `with...` methods every protocol's builder shares: each returns a new builder (builders
 * are immutable, so a half-configured one can be reused as a template).
 */
export abstract class ClientBuilderBase<Self, Options extends ClientStackOptions> {
  protected constructor(
    protected readonly options: Readonly<Options>,
    protected readonly stackEdits: readonly StackEdit[],
  ) {}

  /** A builder like this one with other options / stack edits. */
  protected abstract copy(options: Options, stackEdits: readonly StackEdit[]): Self;

  protected with(patch: Partial<Options>): Self {
    return this.copy({ ...this.options, ...patch }, this.stackEdits);
  }

  /** Default per-call timeout in ms. */
  withTimeout(timeout: number): Self {
    return this.with({ timeout } as Partial<Options>);
  }
  withConnectTimeout(connectTimeout: number): Self {
    return this.with({ connectTimeout } as Partial<Options>);
  }
  /** `'p2c'` (default), `'p2c-ewma'`, `'heap'`, `'aperture'`, `'round-robin'`, or `{ kind, ...options }`. */
  withLoadBalancer(loadBalancer: LoadBalancerConfig): Self {
    return this.with({ loadBalancer } as Partial<Options>);
  }
  /** `{ kind: 'watermark', highWatermark: 16 }`, `{ kind: 'singleton' }`, `{ kind: 'pipeline', size: 2 }`. */
  withPool(pool: PoolConfig): Self {
    return this.with({ pool } as Partial<Options>);
  }
  /** Failure accrual settings, or `false` to turn it off. */
  withFailureAccrual(failureAccrual: FailureAccrualConfig | false): Self {
    return this.with({ failureAccrual } as Partial<Options>);
  }
  /** Retry settings, or `false` to turn retries off. */
  withRetries(retries: RetryConfig | false): Self {
    return this.with({ retries } as Partial<Options>);
  }
  /** The budget retries and backup requests draw from; pass one RetryBudget to share it between clients. */
  withRetryBudget(retryBudget: RetryBudget | RetryBudgetOptions): Self {
    return this.with({ retryBudget } as Partial<Options>);
  }
  /** Methods that may run twice on the server: retried after connection loss, eligible for hedging. */
  withIdempotent(idempotent: readonly string[] | ((method: string) => boolean)): Self {
    return this.with({ idempotent } as Partial<Options>);
  }
  /** How long (and how many) calls wait for a `zk://`/`dns://` destination's first answer. */
  withDiscoveryWait(discoveryWait: FirstResolutionOptions): Self {
    return this.with({ discoveryWait } as Partial<Options>);
  }
  /** Backup requests for idempotent calls after `delay` ms without a reply. */
  withHedging(hedging: HedgingConfig | false): Self {
    return this.with({ hedging } as Partial<Options>);
  }
  withStats(stats: StatsRegistry): Self {
    return this.with({ stats } as Partial<Options>);
  }
  /** The client's name in stats (default: the destination). */
  withLabel(label: string): Self {
    return this.with({ label } as Partial<Options>);
  }
  /** Insert, replace or remove roles: `b.withStack((s) => s.insertBefore('serializer', myLayer))`. */
  withStack(edit: StackEdit): Self {
    return this.copy({ ...this.options }, [...this.stackEdits, edit]);
  }

  /** The edits in order, then a check: a stack an edit broke fails here, naming the role, not at the first call. */
  protected applyEdits(stack: ClientStack): ClientStack {
    for (const edit of this.stackEdits) stack = edit(stack);
    stack.check();
    return stack;
  }
}
