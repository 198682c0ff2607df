/**
 * Finagle's retry budget (`RetryBudget(ttl, minRetriesPerSec, percentCanRetry)`, Finagle 6.31,
 * "Retry Budgets", finagle.github.io/blog/2016/02/08/retry-budgets): a leaky token bucket.
 * Every request deposits `percentCanRetry` of a token, every retry withdraws a whole one, and
 * both expire after `ttl`. A constant reserve of `minRetriesPerSec · ttl` tokens lets clients with
 * little traffic retry at all. So over any `ttl` window, retries ≤ reserve + percentCanRetry ·
 * requests: with every request failing, retries stay near 20% of traffic + 10/s instead of
 * multiplying the load on a struggling peer.
 *
 * Pure logic with an injectable clock; no timers.
 */
import { performance, TIME_ORIGIN } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';

/** Finagle's defaults (RetryBudget.DefaultTtl / DefaultMinRetriesPerSec / DefaultPercentCanRetry). */
export const RETRY_BUDGET_DEFAULTS = { ttl: 10_000, minRetriesPerSec: 10, percentCanRetry: 0.2 } as const;

export interface RetryBudgetOptions {
  /** How long a deposit (and a withdrawal) counts, in ms (default 10 000, Finagle's 10 s). */
  ttl?: number;
  /** Retries always allowed per second of `ttl`, however little traffic there is (default 10, as Finagle). */
  minRetriesPerSec?: number;
  /** Fraction of requests that may be retried on top of the reserve (default 0.2, as Finagle); 0..1000. */
  percentCanRetry?: number;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** Time slices the ttl window is cut into (default 10, as Finagle's WindowedAdder): a deposit expires after ttl·(1-1/slices)..ttl. */
  slices?: number;
}

/**
 * A sum over a sliding time window, kept in `slices` buckets: adding and reading are O(1)
 * amortised and allocation-free. The newest bucket lives in a field (`head`'s slot in `buckets`
 * is written when the window moves on), so an add touches this object alone: it runs on every
 * request, and on a busy process a second object is a second likely cache miss.
 */
export class WindowedCounter {
  private readonly buckets: Float64Array;
  private readonly width: number;
  private head = 0;
  private headStart: number;
  /** The newest bucket's sum. */
  private current = 0;
  /** Sum of the older buckets. */
  private older = 0;

  constructor(
    window: number,
    slices: number,
    private readonly now: () => number,
  ) {
    if (!(window > 0 && Number.isFinite(window))) throw new InvalidArgumentError(`window must be a positive number of ms, got ${String(window)}`);
    if (!(Number.isInteger(slices) && slices >= 1)) throw new InvalidArgumentError(`slices must be a positive integer, got ${String(slices)}`);
    this.buckets = new Float64Array(slices);
    this.width = window / slices;
    this.headStart = now();
  }

  /** Adds `v` now (`now` saves a clock read when the caller has one). */
  add(v: number, now: number = this.now()): void {
    if (now - this.headStart >= this.width) this.advance(now);
    this.current += v;
  }

  get sum(): number {
    return this.sumAt(this.now());
  }

  sumAt(now: number): number {
    if (now - this.headStart >= this.width) this.advance(now);
    return this.older + this.current;
  }

  reset(): void {
    this.buckets.fill(0);
    this.current = 0;
    this.older = 0;
    this.headStart = this.now();
  }

  private advance(now: number): void {
    const steps = Math.floor((now - this.headStart) / this.width);
    const n = this.buckets.length;
    this.headStart += steps * this.width;
    if (steps >= n) {
      this.buckets.fill(0);
      this.current = 0;
      this.older = 0;
      return;
    }
    const buckets = this.buckets;
    buckets[this.head] = this.current;
    this.older += this.current;
    this.current = 0;
    for (let i = 0; i < steps; i++) {
      this.head = (this.head + 1) % n;
      // The slot the head moves into is the oldest bucket: it leaves the window.
      this.older -= buckets[this.head]!;
      buckets[this.head] = 0;
    }
  }
}

/** Epoch ms on the monotonic clock: the same timebase as `CallContext.startEpoch`. */
function epochNow(): number {
  return TIME_ORIGIN + performance.now();
}

// Tokens are kept as integers (a retry = 1000 units) so deposits of 0.2 never drift, as Finagle does.
const SCALE = 1000;

export class RetryBudget {
  readonly ttl: number;
  readonly minRetriesPerSec: number;
  readonly percentCanRetry: number;
  private readonly window: WindowedCounter;
  private readonly reserve: number;
  private readonly depositAmount: number;
  private readonly now: () => number;
  /** A clock was injected: timestamps from callers are ignored (they follow the real clock). */
  private readonly ownClock: boolean;

  constructor(options: RetryBudgetOptions = {}) {
    const ttl = options.ttl ?? RETRY_BUDGET_DEFAULTS.ttl;
    const min = options.minRetriesPerSec ?? RETRY_BUDGET_DEFAULTS.minRetriesPerSec;
    const pct = options.percentCanRetry ?? RETRY_BUDGET_DEFAULTS.percentCanRetry;
    if (!(Number.isFinite(ttl) && ttl > 0)) throw new InvalidArgumentError(`ttl must be a positive number of ms, got ${String(ttl)}`);
    if (!(Number.isFinite(min) && min >= 0)) throw new InvalidArgumentError(`minRetriesPerSec must be >= 0, got ${String(min)}`);
    if (!(Number.isFinite(pct) && pct >= 0 && pct <= 1000)) throw new InvalidArgumentError(`percentCanRetry must be in [0, 1000], got ${String(pct)}`);
    this.ttl = ttl;
    this.minRetriesPerSec = min;
    this.percentCanRetry = pct;
    this.reserve = Math.floor(min * (ttl / 1000) * SCALE);
    this.depositAmount = Math.floor(pct * SCALE);
    this.now = options.now ?? epochNow;
    this.ownClock = options.now !== undefined;
    this.window = new WindowedCounter(ttl, options.slices ?? 10, this.now);
  }

  /** Call once per request (not per retry); `at` (a `Date.now()` timestamp) saves a clock read. */
  deposit(at?: number): void {
    if (this.depositAmount > 0) this.window.add(this.depositAmount, at === undefined || this.ownClock ? this.now() : at);
  }

  /** Takes one retry's worth of tokens if there is one; false means: do not retry. */
  tryWithdraw(): boolean {
    const now = this.now();
    if (this.reserve + this.window.sumAt(now) < SCALE) return false;
    this.window.add(-SCALE, now);
    return true;
  }

  /** Whole retries available now. */
  get balance(): number {
    return Math.floor((this.reserve + this.window.sum) / SCALE);
  }
}
