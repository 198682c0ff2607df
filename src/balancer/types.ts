import type { Status } from '../core/service.js';

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
  /**
   * A picker that sends calls to a subset (aperture): nodes outside it idle this many ms have
   * their sessions closed by the balancer (reopened if picked again). Absent or 0: never.
   */
  readonly idleTime?: number;
  /** With `idleTime`: the nodes calls go to now. */
  readonly window?: readonly N[];
}
