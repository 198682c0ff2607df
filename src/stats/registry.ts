/**
 * An in-memory stats registry: labelled scopes holding counters, gauges, histograms and a node's
 * state history. No exporter: `snapshot()` returns a plain JSON-able object for one to read.
 *
 *   const stats = new StatsRegistry();
 *   const node = stats.scope('client', 'UserService').scope('node', '10.0.0.1:9090');
 *   node.counter('requests').incr();
 *   node.histogram('latency_ms').add(1.2);
 *   stats.snapshot().scopes['client=UserService/node=10.0.0.1:9090'].counters.requests // 1
 *
 * Metric objects are created once and kept by the caller: the hot path is a field increment.
 */
import { InvalidArgumentError } from '../core/errors.js';
import { Histogram, type HistogramSnapshot } from './histogram.js';

export class Counter {
  value = 0;
  incr(n = 1): void {
    this.value += n;
  }
}

export class Gauge {
  value = 0;
  incr(): void {
    this.value++;
  }
  decr(): void {
    this.value--;
  }
  set(v: number): void {
    this.value = v;
  }
}

/** What failure detection says of a node. */
export type NodeState = 'alive' | 'dead' | 'probing';

export interface StateChange {
  state: NodeState;
  /** `Date.now()` milliseconds. */
  at: number;
}

export interface ScopeSnapshot {
  labels: Record<string, string>;
  counters: Record<string, number>;
  gauges: Record<string, number>;
  histograms: Record<string, HistogramSnapshot>;
  /** Present once a state was recorded: the current one and the last changes, oldest first. */
  state?: { current: NodeState; since: number; changes: StateChange[] };
}

export interface StatsSnapshot {
  /** `Date.now()` when taken. */
  at: number;
  /** By scope path, e.g. `client=UserService/node=10.0.0.1:9090`; empty scopes are left out. */
  scopes: Record<string, ScopeSnapshot>;
}

export interface StatsRegistryOptions {
  /** State changes kept per scope (default 32, oldest dropped first). */
  stateHistory?: number;
}

export class StatsScope {
  readonly path: string;
  private readonly children = new Map<string, StatsScope>();
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Gauge>();
  private readonly gaugeFns = new Map<string, () => number>();
  private readonly counterFns = new Map<string, (() => number)[]>();
  private readonly histograms = new Map<string, Histogram>();
  /** Ring buffer of state changes; `stateCount` of them are valid, ending at `stateNext - 1`. */
  private states: StateChange[] | undefined;
  private stateNext = 0;
  private stateCount = 0;

  /** @internal use StatsRegistry.scope() */
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly parent: StatsScope | undefined,
    private readonly stateHistory: number,
  ) {
    this.path = Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join('/');
  }

  /** The child scope with one more label (the same object every time for the same label). */
  scope(key: string, value: string): StatsScope {
    const id = `${key}=${value}`;
    let child = this.children.get(id);
    if (child === undefined) {
      child = new StatsScope({ ...this.labels, [key]: value }, this, this.stateHistory);
      this.children.set(id, child);
    }
    return child;
  }

  counter(name: string): Counter {
    let c = this.counters.get(name);
    if (c === undefined) this.counters.set(name, (c = new Counter()));
    return c;
  }

  gauge(name: string): Gauge {
    let g = this.gauges.get(name);
    if (g === undefined) this.gauges.set(name, (g = new Gauge()));
    return g;
  }

  /**
   * A counter kept elsewhere (in a field of a hot-path object) and read at snapshot time. Several
   * readers of one name add up, as increments of one shared `counter(name)` would.
   */
  counterFn(name: string, read: () => number): void {
    const readers = this.counterFns.get(name);
    if (readers === undefined) this.counterFns.set(name, [read]);
    else readers.push(read);
  }

  /** A gauge read at snapshot time (pool size, waiters...); replaces any earlier one of that name. */
  gaugeFn(name: string, read: () => number): void {
    this.gaugeFns.set(name, read);
  }

  histogram(name: string, resolution?: number): Histogram {
    let h = this.histograms.get(name);
    if (h === undefined) this.histograms.set(name, (h = new Histogram(resolution)));
    return h;
  }

  /** Records a state change; recording the current state again is a no-op. */
  recordState(state: NodeState, at: number = Date.now()): void {
    if (this.states === undefined) this.states = [];
    else if (this.stateCount > 0 && this.states[(this.stateNext - 1 + this.stateHistory) % this.stateHistory]!.state === state) return;
    this.states[this.stateNext] = { state, at };
    this.stateNext = (this.stateNext + 1) % this.stateHistory;
    if (this.stateCount < this.stateHistory) this.stateCount++;
  }

  /** Forgets this scope and its children (a node left the serverset): memory stays bounded. */
  remove(): void {
    if (this.parent === undefined) return;
    for (const [id, child] of this.parent.children) if (child === this) this.parent.children.delete(id);
  }

  /** @internal */
  collect(into: Record<string, ScopeSnapshot>): void {
    const snap = this.own();
    if (snap !== undefined) into[this.path] = snap;
    for (const child of this.children.values()) child.collect(into);
  }

  private own(): ScopeSnapshot | undefined {
    if (this.counters.size + this.counterFns.size + this.gauges.size + this.gaugeFns.size + this.histograms.size + this.stateCount === 0) return undefined;
    const counters: Record<string, number> = {};
    for (const [k, c] of this.counters) counters[k] = c.value;
    for (const [k, readers] of this.counterFns) {
      let sum = counters[k] ?? 0;
      for (const read of readers) sum += read();
      counters[k] = sum;
    }
    const gauges: Record<string, number> = {};
    for (const [k, g] of this.gauges) gauges[k] = g.value;
    for (const [k, read] of this.gaugeFns) gauges[k] = read();
    const histograms: Record<string, HistogramSnapshot> = {};
    for (const [k, h] of this.histograms) histograms[k] = h.snapshot();
    const snap: ScopeSnapshot = { labels: { ...this.labels }, counters, gauges, histograms };
    if (this.stateCount > 0) {
      const changes: StateChange[] = [];
      const n = this.stateHistory;
      for (let i = this.stateCount; i > 0; i--) changes.push({ ...this.states![(this.stateNext - i + n) % n]! });
      const last = changes[changes.length - 1]!;
      snap.state = { current: last.state, since: last.at, changes };
    }
    return snap;
  }
}

export class StatsRegistry {
  private readonly root: StatsScope;

  constructor(options: StatsRegistryOptions = {}) {
    const history = options.stateHistory ?? 32;
    if (!(Number.isInteger(history) && history > 0)) throw new InvalidArgumentError(`stateHistory must be a positive integer, got ${history}`);
    this.root = new StatsScope({}, undefined, history);
  }

  scope(key: string, value: string): StatsScope {
    return this.root.scope(key, value);
  }

  snapshot(): StatsSnapshot {
    const scopes: Record<string, ScopeSnapshot> = {};
    this.root.collect(scopes);
    return { at: Date.now(), scopes };
  }
}
