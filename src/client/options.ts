import type { FirstResolutionOptions } from '../balancer/first-resolution.js';
import type { PickerKind, PickerOptions } from '../balancer/pickers.js';
import { checkTimeoutMs } from '../core/context.js';
import { describeValue, InvalidArgumentError } from '../core/errors.js';
import type { PipelinePoolOptions } from '../pool/pipeline.js';
import type { SingletonPoolOptions } from '../pool/singleton.js';
import type { WatermarkPoolOptions } from '../pool/watermark.js';
import type { Backoff } from '../resilience/backoff.js';
import type { FailureAccrualOptions } from '../resilience/failure-accrual.js';
import { RetryBudget, type RetryBudgetOptions } from '../resilience/retry-budget.js';
import type { StatsRegistry } from '../stats/registry.js';
import type { Logger } from '../core/logger.js';

export type LoadBalancerKind = PickerKind | 'round-robin';

/** `'p2c-ewma'`, or with options: `{ kind: 'aperture', minSize: 2 }`. */
export type LoadBalancerConfig = LoadBalancerKind | ({ kind: LoadBalancerKind } & PickerOptions);

/**
 * watermark: one call per connection, low/high watermarks, bounded waiter queue (HTTP/1.1; Thrift
 * as Finagle and Python Scales run it). singleton: one shared multiplexed or pipelined session.
 * pipeline: up to `size` pipelined sessions, each call on the least loaded one.
 */
export type PoolConfig =
  | ({ kind: 'watermark' } & Omit<WatermarkPoolOptions, 'endpoint'>)
  | ({ kind: 'singleton' } & Omit<SingletonPoolOptions, 'endpoint'>)
  | ({ kind: 'pipeline' } & Omit<PipelinePoolOptions, 'endpoint'>);

export interface RetryConfig {
  /** Most retries per call (default 2, i.e. 3 attempts at most, as Finagle's MethodBuilder). */
  maxRetries?: number;
  /** Wait before retry n (default none, as Finagle's requeues). */
  backoff?: Backoff;
}

export interface HedgingConfig {
  /** Send a backup request after this many ms without a reply (≥ 1; pick near your p95–p99). */
  delay: number;
}

/** Failure accrual settings (the classifier comes from the protocol). */
export type FailureAccrualConfig = Omit<FailureAccrualOptions, 'onStateChange' | 'classifier'>;

/** What every Scales client builder accepts, whatever the protocol. */
export interface ClientStackOptions {
  /**
   * Default timeout of every call in ms (> 0; Infinity: none). A call's own `timeout` or
   * `deadline` replaces it; a deadline inherited from the request being served caps both.
   */
  timeout?: number;
  /** Connect timeout in ms (default 5000). */
  connectTimeout?: number;
  /** Default 'p2c' (power of two choices, least loaded: Finagle's default). */
  loadBalancer?: LoadBalancerConfig;
  /** Default: the protocol's (Thrift and HTTP: watermark). */
  pool?: PoolConfig;
  /** Per-node failure accrual (default on, Finagle's defaults); `false` turns it off. */
  failureAccrual?: FailureAccrualConfig | false;
  /** Retries of failures known to be safe (default on: 2 at most, within the budget); `false` turns them off. */
  retries?: RetryConfig | false;
  /** The budget every retry and backup request draws from (default 20% of traffic + 10/s over 10 s, Finagle's). */
  retryBudget?: RetryBudget | RetryBudgetOptions;
  /** Methods that may safely run twice: also retried after a connection loss, and eligible for hedging. */
  idempotent?: readonly string[] | ((method: string) => boolean);
  /** Backup requests for idempotent calls (default off). */
  hedging?: HedgingConfig | false;
  /** Where stats go (default: a registry of the client's own, at `client.$stats`). */
  stats?: StatsRegistry;
  /** Name of the client in stats (default: the destination). */
  label?: string;
  /**
   * Calls made before a discovered destination (`zk://`, `dns://`) has answered the first time
   * wait for that answer instead of failing with "no node": at most `waitMs` (default 10,000),
   * at most `maxHeld` calls (default 10,000), each still bounded by its own deadline.
   */
  discoveryWait?: FirstResolutionOptions;
  /**
   * Where the client says what changed: a node marked dead by failure accrual, probed, alive
   * again (pino's signature; default: the process-wide default logger, see core/logger.ts).
   * `false` silences it.
   */
  logger?: Logger | false;
}

const LOAD_BALANCERS: readonly LoadBalancerKind[] = ['p2c', 'p2c-ewma', 'heap', 'aperture', 'round-robin'];
const POOLS = ['watermark', 'singleton', 'pipeline'] as const;

/** A finite number > 0, or undefined. */
export function checkPositive(name: string, v: unknown): void {
  if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got ${describeValue(v)}`);
}

/** Throws InvalidArgumentError naming the first bad option. */
export function checkStackOptions(o: ClientStackOptions): void {
  checkTimeoutMs('timeout', o.timeout);
  checkPositive('discoveryWait.waitMs', o.discoveryWait?.waitMs);
  checkPositive('discoveryWait.maxHeld', o.discoveryWait?.maxHeld);
  checkPositive('connectTimeout', o.connectTimeout);
  const lb = o.loadBalancer;
  const lbKind = typeof lb === 'object' && lb !== null ? lb.kind : lb;
  if (lbKind !== undefined && !LOAD_BALANCERS.includes(lbKind)) {
    throw new InvalidArgumentError(`loadBalancer must be one of ${LOAD_BALANCERS.join(', ')}, got ${describeValue(lbKind)}`);
  }
  if (o.pool !== undefined && !(POOLS as readonly string[]).includes(o.pool.kind)) {
    throw new InvalidArgumentError(`pool.kind must be one of ${POOLS.join(', ')}, got ${describeValue(o.pool.kind)}`);
  }
  if (o.hedging !== undefined && o.hedging !== false) checkPositive('hedging.delay', o.hedging.delay);
  if (o.idempotent !== undefined && typeof o.idempotent !== 'function' && !Array.isArray(o.idempotent)) {
    throw new InvalidArgumentError(`idempotent must be a list of method names or a function (method) => boolean, got ${describeValue(o.idempotent)}`);
  }
}

export function loadBalancerParts(lb: LoadBalancerConfig | undefined): { kind: LoadBalancerKind; options: PickerOptions } {
  if (lb === undefined) return { kind: 'p2c', options: {} };
  if (typeof lb === 'string') return { kind: lb, options: {} };
  const { kind, ...options } = lb;
  return { kind, options };
}

export function idempotentPredicate(v: ClientStackOptions['idempotent']): ((method: string) => boolean) | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'function') return v;
  const names = new Set(v);
  return (method) => names.has(method);
}

export function resolveBudget(b: ClientStackOptions['retryBudget']): RetryBudget {
  return b instanceof RetryBudget ? b : new RetryBudget(b);
}
