import { TwoChoicePicker, type TwoChoiceOptions } from './p2c.js';
import type { BalancerNode } from './types.js';

/** Finagle's default `decayTime` for P2CPeakEwma: 10 s. */
export const DEFAULT_DECAY_TIME = 10_000;

/**
 * Cost of a node with calls in flight but no latency sample yet (Finagle: `Long.MaxValue >> 16`):
 * an unsampled node gets one probe call, then waits for its answer before getting more.
 */
const PENALTY = Number.MAX_SAFE_INTEGER / 2 ** 16;

/**
 * Smallest latency sample, in ms: a 0 sample (a coarse clock, or a call that failed at once)
 * must not make a node look unsampled (cost 0 → penalty).
 */
const MIN_RTT = 0.01;

export interface PeakEwmaOptions extends TwoChoiceOptions {
  /** Time constant of the latency average in ms (default 10 000, Finagle's). */
  decayTime?: number;
}

/** Per node: a peak-sensitive moving average of latency (Finagle's PeakEwma `Metric`). */
class Ewma {
  /** ms; 0 until the first sample. */
  cost = 0;
  /** `now` of the last sample. */
  stamp = 0;
}

/**
 * Power of two choices over peak-EWMA latency × load: Finagle's `P2CPeakEwma`.
 *
 * Per node the latency average jumps to any sample above it and otherwise moves toward the
 * sample with weight 1 − exp(−elapsed/decayTime). As in Finagle, reading the cost also decays it
 * toward 0 over the time since the last sample (Finagle's `get()` observes a 0), so a node that
 * was slow once is tried again after a while instead of being starved forever; here the read
 * leaves the state untouched, so how often picks look at a node does not change its average.
 *
 * cost = ewma × (load + 1), Finagle's formula. A new node has ewma 0 and so cost 0: it wins its
 * first draw, and while that probe is in flight it costs PENALTY + load (Finagle's choice), so it
 * gets no more traffic until it has answered once.
 *
 * One deviation: a failed call may raise the average but never lower it, so a node failing fast
 * does not attract traffic by looking quick (Finagle counts failures like successes).
 */
export class PeakEwmaPicker<N extends BalancerNode> extends TwoChoicePicker<N> {
  readonly name = 'p2c-ewma';
  readonly decayTime: number;
  /** Parallel to `nodes`, rebuilt on setNodes: picks read state without a map lookup. */
  private states: Ewma[] = [];
  private readonly byNode = new WeakMap<N, Ewma>();

  constructor(options: PeakEwmaOptions = {}) {
    super(options);
    this.decayTime = options.decayTime ?? DEFAULT_DECAY_TIME;
  }

  override setNodes(nodes: readonly N[]): void {
    super.setNodes(nodes);
    this.states = this.nodes.map((node) => {
      let s = this.byNode.get(node);
      if (s === undefined) {
        s = new Ewma();
        this.byNode.set(node, s);
      }
      return s;
    });
  }

  override finished(node: N, latencyMs: number, failed: boolean, now: number): void {
    const s = this.byNode.get(node);
    if (s === undefined) return;
    const rtt = latencyMs > MIN_RTT ? latencyMs : MIN_RTT;
    const w = now > s.stamp ? Math.exp(-(now - s.stamp) / this.decayTime) : 1;
    // Compared with the decayed average, what picks see now (Finagle's cost is decayed by reads).
    if (rtt > s.cost * w) s.cost = rtt;
    else if (failed) return;
    else s.cost = s.cost * w + rtt * (1 - w);
    s.stamp = now;
  }

  /** For tests and stats: the node's latency average as of `now` (decayed), or undefined. */
  latency(node: N, now: number): number | undefined {
    const s = this.byNode.get(node);
    return s === undefined ? undefined : this.decayed(s, now);
  }

  protected cost(i: number, now: number): number {
    const load = this.nodes[i]!.load;
    const s = this.states[i]!;
    if (s.cost === 0) return load === 0 ? 0 : PENALTY + load;
    return this.decayed(s, now) * (load + 1);
  }

  private decayed(s: Ewma, now: number): number {
    const elapsed = now - s.stamp;
    return elapsed > 0 ? s.cost * Math.exp(-elapsed / this.decayTime) : s.cost;
  }
}
