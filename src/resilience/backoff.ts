/**
 * Backoff policies: pure functions of the attempt number (1 = the first wait) to a delay in ms.
 * Stateless, so one policy is shared by every call and node; jittered ones take an injectable
 * `random()` (default Math.random) so tests are deterministic.
 *
 * Jitter definitions follow Marc Brooker's "Exponential Backoff And Jitter" (AWS Architecture
 * Blog, 2015): full jitter = random(0, d); equal jitter = d/2 + random(0, d/2), where
 * d = min(cap, base·2^(attempt-1)).
 */
import { InvalidArgumentError } from '../core/errors.js';

/** Delay in ms before attempt `attempt` (1-based: the wait before the first retry/probe is attempt 1). */
export type Backoff = (attempt: number) => number;

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

export interface JitterOptions {
  /** Uniform [0, 1) source (default Math.random); inject a fixed one in tests. */
  random?: Random;
}

function checkMs(name: string, v: number): void {
  if (!(Number.isFinite(v) && v >= 0)) throw new InvalidArgumentError(`${name} must be a finite number of ms >= 0, got ${String(v)}`);
}

function checkRange(base: number, cap: number): void {
  checkMs('base', base);
  checkMs('cap', cap);
  if (cap < base) throw new InvalidArgumentError(`cap (${cap} ms) must be >= base (${base} ms)`);
}

/** base·2^(attempt-1), capped; never overflows to Infinity for large attempts. */
function expo(base: number, cap: number, attempt: number): number {
  const n = attempt < 1 ? 0 : attempt - 1;
  if (n >= 1024) return cap;
  const d = base * 2 ** n;
  return d > cap ? cap : d;
}

/** The same delay every time. */
export function constantBackoff(ms: number): Backoff {
  checkMs('ms', ms);
  return () => ms;
}

/** No wait (Finagle's default requeue backoff). */
export const noBackoff: Backoff = () => 0;

/** base, 2·base, 4·base... up to cap, without jitter. */
export function exponentialBackoff(base: number, cap: number): Backoff {
  checkRange(base, cap);
  return (attempt) => expo(base, cap, attempt);
}

/** Full jitter: uniform in [0, min(cap, base·2^(attempt-1))). Spreads retries the most. */
export function fullJitterBackoff(base: number, cap: number, options: JitterOptions = {}): Backoff {
  checkRange(base, cap);
  const random = options.random ?? Math.random;
  return (attempt) => random() * expo(base, cap, attempt);
}

/**
 * Equal jitter, shaped like Finagle's `Backoff.equalJittered(start, maximum)`: the first delay is
 * exactly `base`; delay n ≥ 2 is h + random(0, h) with h = base·2^(n-2), capped at `cap`. That is
 * Brooker's equal jitter on d = base·2^(n-1) — it keeps half of the exponential growth, so a
 * node that keeps failing waits longer each time, while the other half de-correlates revivals.
 * Finagle marks nodes dead with equalJittered(5 s, 300 s).
 */
export function equalJitterBackoff(base: number, cap: number, options: JitterOptions = {}): Backoff {
  checkRange(base, cap);
  const random = options.random ?? Math.random;
  return (attempt) => {
    if (attempt <= 1) return base;
    const half = expo(base, cap, attempt - 1);
    const d = half + random() * half;
    return d > cap ? cap : d;
  };
}

/** Caps any policy at `max` ms. */
export function cappedBackoff(policy: Backoff, max: number): Backoff {
  checkMs('max', max);
  return (attempt) => {
    const d = policy(attempt);
    return d > max ? max : d;
  };
}

/** The policy as an (infinite) iterator of delays, attempts 1, 2, 3... */
export function* backoffDelays(policy: Backoff): Generator<number, never, undefined> {
  for (let attempt = 1; ; attempt++) yield policy(attempt);
}
