import type { CallContext, Status } from '../core/service.js';

/**
 * What a load-balancing algorithm sees of one node. The balancer owns these objects: it keeps
 * `load` (calls in flight through the balancer) and asks the node's own stack for `status`
 * (`open`; `busy` = marked down by failure accrual or backing off after connect failures;
 * `closed` = gone).
 */
export interface BalancerNode {
  /** `host:port`, unique within a balancer. */
  readonly key: string;
  /** Calls in flight on this node through the balancer. */
  readonly load: number;
  readonly status: Status;
}

/**
 * A load-balancing algorithm. Pure logic over BalancerNodes: no I/O, no timers of its own
 * (time comes in through `now`: monotonic ms, the Balancer passes `performance.now()`), so it can
 * be unit-tested and benchmarked in isolation.
 *
 * Rules every algorithm keeps:
 * - prefer nodes whose status is 'open'; when none is open, still return a non-closed node
 *   (panic mode: trying beats failing instantly); return undefined only with no usable node;
 * - pick() must be cheap: the target is ≤ 1 µs per pick at 10,000 nodes.
 */
export interface Picker<N extends BalancerNode = BalancerNode> {
  readonly name: string;
  /** The node set changed (added/removed); called before any pick with the new full list. */
  setNodes(nodes: readonly N[]): void;
  pick(now: number): N | undefined;
  /** A call was sent to `node` (its load was just incremented by the balancer). */
  started(node: N, now: number): void;
  /** A call on `node` ended after `latencyMs` (its load was just decremented). */
  finished(node: N, latencyMs: number, failed: boolean, now: number): void;
}

/**
 * A per-node service that can learn its calls' outcomes from the balancer instead of chaining a
 * promise reaction onto every call (failure accrual does): the balancer already waits for each
 * attempt and reads the clock when it ends, so this saves a promise hop and a clock read per
 * call. The balancer calls `observeAttempts()` once, when the service is the top of the node's
 * stack; a service never told keeps observing calls itself.
 */
export interface AttemptObserver {
  observeAttempts(): void;
  /** One attempt ended: `outcome` is the reply when `ok`, else the rejection; `epochNow` is `Date.now()`-like ms. */
  attemptFinished(ok: boolean, outcome: unknown, ctx: CallContext, epochNow: number): void;
}

export function isAttemptObserver(s: unknown): s is AttemptObserver {
  return typeof (s as Partial<AttemptObserver>).observeAttempts === 'function' && typeof (s as Partial<AttemptObserver>).attemptFinished === 'function';
}
