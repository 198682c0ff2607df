import { DEFAULT_MAX_EFFORT, type TwoChoiceOptions } from './p2c.js';
import { Rng } from './random.js';
import type { BalancerNode, Picker } from './types.js';

/**
 * Defaults of Python Scales' ApertureBalancerSink (`min_load` 0.5, `max_load` 2.0, `min_size` 1,
 * `smoothing_window` 5 s, `jitter_min_sec` 120), which are Finagle's aperture defaults too
 * (load band [0.5, 2], smoothWin 5 s, minAperture 1).
 */
export const APERTURE_DEFAULTS = {
  lowLoad: 0.5,
  highLoad: 2.0,
  minSize: 1,
  smoothWindow: 5_000,
  jitter: 120_000,
  /** Finagle's endpointIdleTime: ten smoothing windows. */
  idleWindows: 10,
} as const;

/** How often (ms of `now`) the window is rebuilt anyway, so nodes that came back rejoin it. */
const RECHECK = 1_000;

export interface ApertureOptions extends TwoChoiceOptions {
  /** Below this smoothed load per node in the window (≤), it narrows by one (default 0.5). */
  lowLoad?: number;
  /** Above this (≥), it widens by one (default 2.0). */
  highLoad?: number;
  /** Fewest open nodes in the window (default 1). */
  minSize?: number;
  /** Time constant in ms of the moving average of calls in flight (default 5000). */
  smoothWindow?: number;
  /** The window slides by one node every jitter..2×jitter ms (default 120 000; 0 = never). */
  jitter?: number;
  /**
   * A node outside the window with no call for this long has its sessions closed (Finagle's
   * aperture expiry: a client keeps connections to the nodes it uses, not to every node it ever
   * used). Default 10 × smoothWindow (50 s, as Finagle); 0 = never.
   */
  idleTime?: number;
}

/**
 * Aperture (Python Scales' ApertureBalancerSink, Finagle's aperture load-band balancer): balance
 * over the smallest window of nodes that keeps the load per node inside [lowLoad, highLoad], so a
 * client talks to few, warm nodes and least-loaded has concurrency to work with.
 *
 * - The nodes sit on a ring in a random order (a seeded token per node, kept across membership
 *   changes as Finagle does, so adding a node does not reshuffle everyone).
 * - The window holds `size` open nodes from `start` on: non-open nodes are skipped and widen the
 *   span instead (Finagle leaves unavailable nodes off its ring; Scales expands on node down).
 * - Load = exponential moving average of the calls in flight (time constant `smoothWindow`), over
 *   the open nodes in the window. On every started/finished it widens by one when ≥ highLoad and
 *   narrows by one when ≤ lowLoad (Scales and Finagle compare inclusively). The average integrates
 *   the in-flight count exactly over time (Scales samples it at each event instead).
 * - Every jitter..2×jitter ms (Scales' jitter_min_sec..jitter_max_sec, 120..240 s) the window
 *   slides one node along the ring, so clients sharing a seed-less default still drift apart and
 *   every node gets its turn; Scales swaps one node in and one out at that pace.
 * - Within the window: power of two choices, least loaded, as Finagle's aperture.
 *
 * pick() is O(1) while the window is healthy. A draw that hits a non-open node marks the window
 * for a rebuild, O(window span), on the next pick. Panic mode (no open node anywhere) costs O(n).
 */
export class AperturePicker<N extends BalancerNode> implements Picker<N> {
  readonly name = 'aperture';
  readonly lowLoad: number;
  readonly highLoad: number;
  readonly minSize: number;
  readonly smoothWindow: number;
  readonly jitter: number;
  readonly idleTime: number;
  private readonly maxEffort: number;
  private readonly rng: Rng;

  private ring: N[] = [];
  private tokens = new Map<string, number>();
  private start = 0;
  private want: number;
  /** The open nodes of the window, in ring order. */
  private active: N[] = [];
  private spanned = 0;
  private dirty = true;

  private total = 0;
  private avg = 0;
  private avgTime = Number.NaN;

  private nextRotation = Number.NaN;
  private nextRecheck = -Infinity;

  constructor(options: ApertureOptions = {}) {
    this.lowLoad = options.lowLoad ?? APERTURE_DEFAULTS.lowLoad;
    this.highLoad = options.highLoad ?? APERTURE_DEFAULTS.highLoad;
    this.minSize = options.minSize ?? APERTURE_DEFAULTS.minSize;
    this.smoothWindow = options.smoothWindow ?? APERTURE_DEFAULTS.smoothWindow;
    this.jitter = options.jitter ?? APERTURE_DEFAULTS.jitter;
    this.idleTime = options.idleTime ?? this.smoothWindow * APERTURE_DEFAULTS.idleWindows;
    this.maxEffort = options.maxEffort ?? DEFAULT_MAX_EFFORT;
    this.rng = new Rng(options.seed);
    this.want = this.minSize;
  }

  /** The aperture: how many open nodes the window aims to hold. */
  get size(): number {
    return this.want;
  }

  /** Ring positions the window covers (≥ size when some of them are not open). */
  get span(): number {
    return this.spanned;
  }

  /** The open nodes of the window as of the last rebuild (for tests and stats). */
  get window(): readonly N[] {
    return this.active;
  }

  /** The smoothed calls in flight (for tests and stats). */
  get smoothedLoad(): number {
    return this.avg;
  }

  setNodes(nodes: readonly N[]): void {
    const tokens = new Map<string, number>();
    for (const node of nodes) tokens.set(node.key, this.tokens.get(node.key) ?? this.rng.nextU32());
    this.tokens = tokens; // forget the departed
    this.ring = [...nodes].sort((a, b) => tokens.get(a.key)! - tokens.get(b.key)! || (a.key < b.key ? -1 : 1));
    const n = this.ring.length;
    this.start = n === 0 ? 0 : this.start % n;
    this.want = Math.max(Math.min(this.want, n), Math.min(this.minSize, n));
    this.dirty = true;
  }

  pick(now: number): N | undefined {
    if (now >= this.nextRecheck || now >= this.nextRotation) this.onTime(now);
    if (this.dirty) this.rebuild();
    const active = this.active;
    const m = active.length;
    if (m >= 2) {
      const rng = this.rng;
      for (let effort = this.maxEffort; effort > 0; effort--) {
        const i = rng.int(m);
        let j = rng.int(m - 1);
        if (j >= i) j++;
        const a = active[i]!;
        const b = active[j]!;
        if (a.status === 'open') {
          if (b.status === 'open') return a.load <= b.load ? a : b;
          this.dirty = true;
          return a;
        }
        this.dirty = true;
        if (b.status === 'open') return b;
      }
    } else if (m === 1 && active[0]!.status === 'open') {
      return active[0];
    }
    return this.fallback();
  }

  started(_node: N, now: number): void {
    this.adjust(1, now);
  }

  finished(_node: N, _latencyMs: number, _failed: boolean, now: number): void {
    this.adjust(-1, now);
  }

  /** The window went stale under us: rebuild it, then least loaded of it, else panic over all. */
  private fallback(): N | undefined {
    this.rebuild();
    let best: N | undefined;
    for (const node of this.active) if (best === undefined || node.load < best.load) best = node;
    if (best !== undefined) return best;
    for (const node of this.ring) {
      if (node.status === 'busy' && (best === undefined || node.load < best.load)) best = node;
    }
    return best;
  }

  private onTime(now: number): void {
    if (now >= this.nextRecheck) {
      this.nextRecheck = now + RECHECK;
      this.dirty = true;
    }
    if (this.jitter <= 0) return;
    if (Number.isNaN(this.nextRotation)) {
      this.nextRotation = now + this.jitter * (1 + this.rng.float());
    } else if (now >= this.nextRotation) {
      this.nextRotation = now + this.jitter * (1 + this.rng.float());
      if (this.ring.length > 0) this.start = (this.start + 1) % this.ring.length;
      this.dirty = true;
    }
  }

  /** Load band: fold the in-flight count held since the last event into the average, then steer. */
  private adjust(delta: number, now: number): void {
    const held = this.total;
    this.total = held + delta;
    if (Number.isNaN(this.avgTime)) {
      this.avgTime = now;
      this.avg = this.total;
    } else if (now > this.avgTime) {
      const w = this.smoothWindow > 0 ? Math.exp(-(now - this.avgTime) / this.smoothWindow) : 0;
      this.avg = held * (1 - w) + this.avg * w;
      this.avgTime = now;
    }
    const open = this.active.length;
    const load = open === 0 ? Infinity : this.avg / open;
    if (load >= this.highLoad) {
      if (this.spanned < this.ring.length) {
        this.want++;
        if (!this.dirty) this.extend();
      }
    } else if (load <= this.lowLoad && this.want > Math.min(this.minSize, this.ring.length)) {
      this.want--;
      if (!this.dirty) this.shrink();
    }
  }

  private rebuild(): void {
    this.active = [];
    this.spanned = 0;
    this.dirty = false;
    this.extend();
  }

  /** Take ring positions after the span until the window holds `want` open nodes. */
  private extend(): void {
    const ring = this.ring;
    const n = ring.length;
    const active = this.active;
    while (active.length < this.want && this.spanned < n) {
      const node = ring[(this.start + this.spanned++) % n]!;
      if (node.status === 'open') active.push(node);
    }
  }

  /** Drop the last open node of the window and the non-open positions after the new last one. */
  private shrink(): void {
    const active = this.active;
    if (active.length <= this.want) return;
    active.pop();
    const last = active[active.length - 1];
    const ring = this.ring;
    const n = ring.length;
    while (this.spanned > 0 && ring[(this.start + this.spanned - 1) % n] !== last) this.spanned--;
  }
}
