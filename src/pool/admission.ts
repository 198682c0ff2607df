/**
 * Admission under overload, for the waiter queue: how long a call keeps a connection (so that a
 * waiter that cannot finish before its deadline is never handed one), and when the queue serves
 * its newest waiter first.
 *
 * Why both (bench/overload.ts, 20 ms calls, 100 ms timeouts, 8 connections): FIFO hands each freed
 * connection to the waiter with the least time left; it times out in flight, so the work is wasted
 * and every caller fails. Refusing waiters that cannot make it keeps the work useful; serving the
 * newest first once a queue stands (Facebook's adaptive LIFO) gives the calls that do succeed
 * their whole budget instead of its last few milliseconds, and lets the oldest fail early.
 */
import { InvalidArgumentError } from '../core/errors.js';

export interface AdmissionOptions {
  /**
   * Once the queue has not been empty for this many ms, a freed connection goes to the NEWEST
   * waiter (default 10; Infinity: always the oldest). Under a short burst the queue empties
   * again and stays first-come first-served.
   */
  lifoAfter?: number;
  /**
   * Refuse (OverloadedError, unwritten) a waiter whose deadline is nearer than the time calls on
   * this pool's connections take (an average of the last ones), instead of sending it to time
   * out in flight (default true).
   */
  shedHopeless?: boolean;
}

export const DEFAULT_LIFO_AFTER_MS = 10;

/** Average time a call keeps a connection: an exponentially weighted mean of the last ones. */
export class ServiceTime {
  /** ms; 0 until a call has been observed. */
  estimate = 0;

  /** A call that held a connection for `ms` (its reply arrived then, late or not). */
  observe(ms: number): void {
    if (!(ms >= 0)) return;
    // Weight 1/8: a handful of calls moves it, one outlier does not.
    this.estimate = this.estimate === 0 ? ms : this.estimate + (ms - this.estimate) / 8;
  }
}

export function lifoAfterMs(o: AdmissionOptions | undefined): number {
  const v = o?.lifoAfter ?? DEFAULT_LIFO_AFTER_MS;
  if (!(v >= 0)) throw new InvalidArgumentError(`lifoAfter must be a number of ms >= 0 (Infinity: never), got ${String(v)}`);
  return v;
}
