import type { Counter, StatsScope } from './registry.js';
import type { Histogram } from './histogram.js';
import { isScalesError } from '../core/errors.js';
import { ThriftException } from '../protocols/thrift/descriptors.js';

export const USER_EXCEPTION = 'USER_EXCEPTION';

/**
 * Outcome code of a rejection: the ScalesError code without its `SCALES_ERR_` prefix (`TIMEOUT`,
 * `CONNECT`, `APPLICATION` for ThriftApplicationError...), `USER_EXCEPTION` for a declared Thrift
 * exception, `UNKNOWN` for anything else (a bug, a foreign error).
 */
export function outcomeCode(err: unknown): string {
  if (isScalesError(err)) return err.code.startsWith('SCALES_ERR_') ? err.code.slice(11) : err.code;
  if (err instanceof ThriftException) return USER_EXCEPTION;
  return 'UNKNOWN';
}

/**
 * The call counters of one scope: `requests`, `successes`, `failures`, `failures.<CODE>`,
 * `user_exceptions` (declared exceptions: the server answered as the IDL says, so they count as
 * successes too), `in_flight`, `latency_ms`. The stats layer feeds it for the client; the load
 * balancer feeds one per node as it starts and ends each attempt (it already holds the clock
 * readings and the outcome, so per-node stats cost no promise or clock read of their own).
 */
export class CallStats {
  // Plain fields of this one object, read by the registry at snapshot time: the stats of a call
  // then touch this object and the latency histogram, not one object per counter.
  private requests = 0;
  private successes = 0;
  private failures = 0;
  private userExceptions = 0;
  private inFlight = 0;
  private readonly latency: Histogram;
  private readonly byCode = new Map<string, Counter>();

  constructor(
    private readonly scope: StatsScope,
    /** A failure code for a resolved reply (HTTP 5xx, Thrift TApplicationException), or undefined. */
    private readonly replyFailure: ((rep: unknown) => string | undefined) | undefined,
  ) {
    scope.counterFn('requests', () => this.requests);
    scope.counterFn('successes', () => this.successes);
    scope.counterFn('failures', () => this.failures);
    scope.counterFn('user_exceptions', () => this.userExceptions);
    scope.gaugeFn('in_flight', () => this.inFlight);
    this.latency = scope.histogram('latency_ms');
  }

  started(): void {
    this.requests++;
    this.inFlight++;
  }

  finished(latencyMs: number, ok: boolean, outcome: unknown): void {
    this.inFlight--;
    this.latency.add(latencyMs);
    const code = ok ? (this.replyFailure === undefined ? undefined : this.replyFailure(outcome)) : outcomeCode(outcome);
    if (code === undefined) this.successes++;
    else this.counted(code);
  }

  /** Off the success path (kept out of `finished` so that it stays small). */
  private counted(code: string): void {
    if (code === USER_EXCEPTION) {
      this.successes++;
      this.userExceptions++;
      return;
    }
    this.failures++;
    let c = this.byCode.get(code);
    if (c === undefined) this.byCode.set(code, (c = this.scope.counter(`failures.${code}`)));
    c.value++;
  }
}
