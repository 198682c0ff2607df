import type { FirstResolutionOptions } from '../balancer/first-resolution.js';
import type { ClientStack } from './client-stack.js';
import { describeValue, InvalidArgumentError } from '../core/errors.js';
import type { OptionKeyList } from '../core/option-keys.js';
import type { Logger } from '../core/logger.js';
import type { RetryBudget, RetryBudgetOptions } from '../resilience/retry-budget.js';
import type { StatsRegistry } from '../stats/registry.js';
import type { ClientStackOptions, FailureAccrualConfig, HedgingConfig, LoadBalancerConfig, PoolConfig, RetryConfig } from './options.js';

/** An edit of a client's stacks by role name (`s.insertAfter(Role.retries, mine)`). */
export type StackEdit = (stack: ClientStack) => ClientStack;

export { type OptionKeyList, optionKeys } from '../core/option-keys.js';

/** The keys every protocol's options share. */
export const STACK_OPTION_KEYS: OptionKeyList<ClientStackOptions> = {
  timeout: true,
  connectTimeout: true,
  loadBalancer: true,
  pool: true,
  failureAccrual: true,
  retries: true,
  retryBudget: true,
  idempotent: true,
  hedging: true,
  stats: true,
  label: true,
  discoveryWait: true,
  logger: true,
};

/** What a builder checks its options against when it is made. */
export interface BuilderSpec {
  /** Every option key the protocol knows (`optionKeys(...)`): others are refused, naming the known ones. */
  readonly optionKeys?: ReadonlySet<string>;
  /** The service's method names, when the protocol knows them: `idempotent` may name only these. */
  readonly methods?: readonly string[];
  /** The service's name, for messages. */
  readonly service?: string;
}

/**
 * Refuses what JavaScript callers (and `as` casts) can get past the types: an option key the
 * protocol does not know (a typo such as `timout` would otherwise be ignored) and idempotent
 * method names the service does not have (`withIdempotent(['gett'])` would hedge nothing).
 */
export function checkBuilderOptions(options: object, spec: BuilderSpec): void {
  const known = spec.optionKeys;
  if (known !== undefined) {
    for (const key of Object.keys(options)) {
      if (!known.has(key)) throw new InvalidArgumentError(`unknown option '${key}'; the known options are: ${[...known].join(', ')}`);
    }
  }
  const idempotent = (options as ClientStackOptions).idempotent;
  const methods = spec.methods;
  if (methods !== undefined && Array.isArray(idempotent)) {
    for (const name of idempotent as readonly unknown[]) {
      if (typeof name !== 'string' || !methods.includes(name)) {
        const of = spec.service === undefined ? 'the service' : spec.service;
        throw new InvalidArgumentError(`idempotent: ${of} has no method ${typeof name === 'string' ? `'${name}'` : describeValue(name)}; its methods are: ${methods.join(', ')}`);
      }
    }
  }
}

/**
 * The `with...` methods every protocol's builder shares: each returns a new builder (builders
 * are immutable, so a half-configured one can be reused as a template). `Method` is the service's
 * method names where the protocol knows them (typed `withIdempotent`).
 */
export abstract class ClientBuilderBase<Self, Options extends ClientStackOptions, Method extends string = string> {
  protected constructor(
    protected readonly options: Readonly<Options>,
    protected readonly stackEdits: readonly StackEdit[],
    spec?: BuilderSpec,
  ) {
    if (spec !== undefined) checkBuilderOptions(options, spec);
  }

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
  /**
   * Methods that may run twice on the server: retried after connection loss, eligible for
   * hedging. Names the service does not have are refused (InvalidArgumentError).
   */
  withIdempotent(idempotent: readonly Method[] | ((method: string) => boolean)): Self {
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
  /** Where the client logs node state changes (pino's signature), or `false` for nothing. */
  withLogger(logger: Logger | false): Self {
    return this.with({ logger } as Partial<Options>);
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
