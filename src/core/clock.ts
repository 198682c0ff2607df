/**
 * The monotonic clock the hot path reads. Imported from node:perf_hooks rather than through the
 * global `performance`, which Node 20 defines as a lazy getter (measured: ~15 ns more per read,
 * and `performance.timeOrigin` is a getter too, so it is read once here).
 */
import { performance } from 'node:perf_hooks';

/** `performance.timeOrigin`: adding it to a monotonic reading gives a `Date.now()`-style epoch ms. */
export const TIME_ORIGIN: number = performance.timeOrigin;

/** `performance.now()`: milliseconds, monotonic, sub-millisecond resolution. */
export { performance };

/** Longest delay `setTimeout` takes: a longer one (or Infinity) fires after 1 ms, with a warning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
