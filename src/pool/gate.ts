import { ConnectError, isScalesError, type ScalesError } from '../core/errors.js';
import type { Backoff } from '../resilience/backoff.js';

/**
 * Connect-failure state shared by the pools: after `n` consecutive failed connects no new
 * connect is tried for `backoff(n)` ms, and calls that would need one fail fast with a
 * ConnectError (unwritten) naming the last failure. One success resets it.
 */
export class ConnectGate {
  /** Consecutive failed connects. */
  failures = 0;
  /** `Date.now()` before which no connect is tried. */
  retryAt = 0;
  lastError: ScalesError | undefined = undefined;

  constructor(
    private readonly backoff: Backoff,
    private readonly endpoint: string | undefined,
  ) {}

  /** True while connects are suspended (status 'busy'). */
  get backingOff(): boolean {
    return this.failures > 0 && Date.now() < this.retryAt;
  }

  succeeded(): void {
    this.failures = 0;
    this.retryAt = 0;
    this.lastError = undefined;
  }

  /**
   * Records a failed connect; returns it as a ScalesError (foreign errors become ConnectError).
   * Failures landing while already backing off (parallel connects of one burst) count once, so
   * 8 connects refused together do not jump straight to the backoff cap.
   */
  failed(err: unknown): ScalesError {
    const e = isScalesError(err)
      ? err
      : new ConnectError(`cannot connect${this.endpoint === undefined ? '' : ` to ${this.endpoint}`}: ${(err as Error)?.message ?? String(err)}`, { endpoint: this.endpoint, cause: err });
    this.lastError = e;
    if (this.backingOff) return e;
    this.failures++;
    const delay = this.backoff(this.failures);
    this.retryAt = Date.now() + (delay > 0 ? delay : 0);
    return e;
  }

  /** The error for a call refused during backoff: the cause first (what the user must fix), the backoff after it. */
  fastFail(): ConnectError {
    const wait = Math.max(0, this.retryAt - Date.now());
    const last = this.lastError;
    const backoff = `no new connect for another ${wait} ms after ${this.failures} failed attempt${this.failures === 1 ? '' : 's'}`;
    const where = this.endpoint === undefined ? '' : ` to ${this.endpoint}`;
    return new ConnectError(last === undefined ? `not connecting${where}: ${backoff}` : `${last.message} (${backoff})`, { endpoint: this.endpoint, cause: last });
  }
}
