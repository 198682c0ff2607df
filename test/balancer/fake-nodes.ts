import type { Status } from '../../src/core/service.js';
import { Rng } from '../../src/balancer/random.js';
import type { BalancerNode, Picker } from '../../src/balancer/types.js';

/** What a picker sees of a node; tests set `status` behind the picker's back, as real nodes do. */
export class FakeNode implements BalancerNode {
  load = 0;
  status: Status = 'open';
  constructor(readonly key: string) {}
}

export function makeNodes(n: number, prefix = 'n'): FakeNode[] {
  return Array.from({ length: n }, (_, i) => new FakeNode(`${prefix}${i}:9090`));
}

/** One call in flight, as the Balancer keeps it. */
export interface Call {
  node: FakeNode;
  start: number;
  end: number;
}

/** pick → load++ → started, exactly as Balancer.call does; undefined when the picker gave none. */
export function startCall(picker: Picker<FakeNode>, now: number, latency = 0): Call | undefined {
  const node = picker.pick(now);
  if (node === undefined) return undefined;
  node.load++;
  picker.started(node, now);
  return { node, start: now, end: now + latency };
}

/** load-- → finished, as the Balancer's completion does. */
export function finishCall(picker: Picker<FakeNode>, call: Call, now: number, failed = false): void {
  call.node.load--;
  picker.finished(call.node, now - call.start, failed, now);
}

/** Counts per node key. */
export type Counts = Map<string, number>;

export function count(counts: Counts, key: string): number {
  return counts.get(key) ?? 0;
}

/** n sequential calls (each finished before the next is picked), 1 ms apart. */
export function sequential(picker: Picker<FakeNode>, n: number, latency = 1, t0 = 0): Counts {
  const counts: Counts = new Map();
  let now = t0;
  for (let i = 0; i < n; i++) {
    const call = startCall(picker, now, latency);
    if (call === undefined) throw new Error('no node picked');
    counts.set(call.node.key, count(counts, call.node.key) + 1);
    now += latency;
    finishCall(picker, call, now);
  }
  return counts;
}

export interface SimOptions {
  /** Virtual ms to run, one tick per ms. */
  duration: number;
  /** Closed loop: calls kept in flight. */
  concurrency: number;
  /** Latency of a call to `node` in ms (≥ 1). */
  latency: (node: FakeNode, rng: Rng) => number;
  /** Virtual time at the start (default 0). */
  t0?: number;
  seed?: number;
  /** Called once per tick before calls start (to flip statuses, change membership...). */
  onTick?: (now: number) => void;
}

/**
 * Discrete-time closed-loop run over virtual time: each ms, calls whose latency elapsed finish,
 * then new calls start until `concurrency` are in flight. Returns picks per node and the time.
 */
export function simulate(picker: Picker<FakeNode>, opts: SimOptions): { counts: Counts; now: number } {
  const rng = new Rng(opts.seed ?? 7);
  const counts: Counts = new Map();
  let inFlight: Call[] = [];
  const t0 = opts.t0 ?? 0;
  let now = t0;
  for (; now < t0 + opts.duration; now++) {
    const still: Call[] = [];
    for (const c of inFlight) {
      if (c.end <= now) finishCall(picker, c, now);
      else still.push(c);
    }
    inFlight = still;
    opts.onTick?.(now);
    while (inFlight.length < opts.concurrency) {
      const node = picker.pick(now);
      if (node === undefined) break;
      node.load++;
      picker.started(node, now);
      inFlight.push({ node, start: now, end: now + opts.latency(node, rng) });
      counts.set(node.key, count(counts, node.key) + 1);
    }
  }
  for (const c of inFlight) finishCall(picker, c, now);
  return { counts, now };
}

/** Pearson's chi-square statistic of `counts` over `nodes` against a uniform split. */
export function chiSquare(counts: Counts, nodes: readonly FakeNode[]): number {
  let total = 0;
  for (const n of nodes) total += count(counts, n.key);
  const expected = total / nodes.length;
  let chi = 0;
  for (const n of nodes) chi += (count(counts, n.key) - expected) ** 2 / expected;
  return chi;
}

export function total(counts: Counts): number {
  let t = 0;
  for (const v of counts.values()) t += v;
  return t;
}
