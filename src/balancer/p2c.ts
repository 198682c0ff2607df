import { Rng } from './random.js';
import type { BalancerNode, Picker } from './types.js';

/** Finagle's default `maxEffort`: rounds of two draws before giving up on random picks. */
export const DEFAULT_MAX_EFFORT = 5;

export interface TwoChoiceOptions {
  /** PRNG seed (default random): equal seeds and equal call sequences give equal picks. */
  seed?: number;
  /** Rounds of two draws that may hit non-open nodes before a full scan (default 5, Finagle's). */
  maxEffort?: number;
}

/**
 * Power of two choices: draw two distinct nodes at random and take the cheaper one (Mitzenmacher;
 * Finagle's `P2C*` balancers). Subclasses say what a node costs. Non-open draws are retried up to
 * `maxEffort` rounds (Finagle's default 5), then a scan finds the cheapest open node, or in panic
 * mode (none open) the cheapest busy one.
 */
export abstract class TwoChoicePicker<N extends BalancerNode> implements Picker<N> {
  abstract readonly name: string;
  protected nodes: readonly N[] = [];
  protected readonly rng: Rng;
  protected readonly maxEffort: number;

  constructor(options: TwoChoiceOptions = {}) {
    this.rng = new Rng(options.seed);
    this.maxEffort = options.maxEffort ?? DEFAULT_MAX_EFFORT;
  }

  /** What sending one more call to nodes[i] costs; lower wins. */
  protected abstract cost(i: number, now: number): number;

  setNodes(nodes: readonly N[]): void {
    this.nodes = nodes.slice();
  }

  pick(now: number): N | undefined {
    const nodes = this.nodes;
    const n = nodes.length;
    if (n <= 1) return n === 1 && nodes[0]!.status !== 'closed' ? nodes[0] : undefined;
    const rng = this.rng;
    for (let effort = this.maxEffort; effort > 0; effort--) {
      const i = rng.int(n);
      let j = rng.int(n - 1);
      if (j >= i) j++;
      const a = nodes[i]!;
      const b = nodes[j]!;
      if (a.status === 'open') {
        if (b.status !== 'open' || this.cost(i, now) <= this.cost(j, now)) return a;
        return b;
      }
      if (b.status === 'open') return b;
    }
    return this.scan(now);
  }

  started(_node: N, _now: number): void {}
  finished(_node: N, _latencyMs: number, _failed: boolean, _now: number): void {}

  /** The cheapest open node, else the cheapest busy one; from a random start so ties spread. */
  private scan(now: number): N | undefined {
    const nodes = this.nodes;
    const n = nodes.length;
    const start = this.rng.int(n);
    let open = -1;
    let openCost = Infinity;
    let busy = -1;
    let busyCost = Infinity;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      const s = nodes[i]!.status;
      if (s === 'open') {
        const c = this.cost(i, now);
        if (open < 0 || c < openCost) {
          open = i;
          openCost = c;
        }
      } else if (s === 'busy' && open < 0) {
        const c = this.cost(i, now);
        if (busy < 0 || c < busyCost) {
          busy = i;
          busyCost = c;
        }
      }
    }
    const best = open >= 0 ? open : busy;
    return best >= 0 ? nodes[best] : undefined;
  }
}

/**
 * Power of two choices, least loaded: Finagle's default balancer (`P2CLeastLoaded`). Cost =
 * calls in flight. O(1) per pick whatever the number of nodes.
 */
export class P2CPicker<N extends BalancerNode> extends TwoChoicePicker<N> {
  readonly name = 'p2c';

  protected cost(i: number): number {
    return this.nodes[i]!.load;
  }
}
