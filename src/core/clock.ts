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

let turnTime = 0;
let turnValid = false;
let turnWall = 0;
let turnWallValid = false;
let offset = 0;
let offsetValid = false;
let endQueued = false;
const endOfTurn = (): void => {
  turnValid = false;
  turnWallValid = false;
  offsetValid = false;
  endQueued = false;
};

function queueEndOfTurn(): void {
  if (endQueued) return;
  endQueued = true;
  queueMicrotask(endOfTurn);
}

/**
 * `performance.now()`, read at most once per synchronous run of code (one socket read and the
 * messages it carried): later calls in the same run return that reading. For the end of work
 * that finished within the run — a server's synchronous answers, which leave in the same write
 * flush anyway — where a clock read per request (~45 ns here) would cost more than the work.
 * The reading can be older than a start taken later in the same run: clamp differences at 0.
 */
export function turnNow(): number {
  if (turnValid) return turnTime;
  turnValid = true;
  queueEndOfTurn();
  turnTime = performance.now();
  return turnTime;
}

/**
 * `Date.now()`, read at most once per synchronous run as `turnNow`. For wall-clock deadlines from
 * the wire, turned into monotonic ones against a request's start (its socket read, in the same
 * run): a reading from the start of the run matches that start better than a later one would.
 */
export function turnWallNow(): number {
  if (turnWallValid) return turnWall;
  turnWallValid = true;
  queueEndOfTurn();
  turnWall = Date.now();
  return turnWall;
}

/**
 * `Date.now() - performance.now()`, read once per synchronous run: a monotonic time plus this is
 * its wall-clock time. Converting with it is exact whenever the monotonic time was read (a
 * call's start, a deadline), where a fresh `Date.now()` per conversion would cost ~45 ns each.
 * Read again every run, so it follows the wall clock's corrections (NTP) as they come.
 */
export function wallOffset(): number {
  if (offsetValid) return offset;
  offsetValid = true;
  queueEndOfTurn();
  offset = Date.now() - performance.now();
  return offset;
}
