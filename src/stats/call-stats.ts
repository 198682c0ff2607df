import type { Counter, Gauge, StatsScope } from './registry.js';
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
  private readonly requests: Counter;
  private readonly successes: Counter;
  private readonly failures: Counter;
  private readonly userExceptions: Counter;
  private readonly inFlight: Gauge;
  private readonly latency: Histogram;
  private readonly byCode = new Map<string, Counter>();

  constructor(
    private readonly scope: StatsScope,
    /** A failure code for a resolved reply (HTTP 5xx, Thrift TApplicationException), or undefined. */
    private readonly replyFailure: ((rep: unknown) => string | undefined) | undefined,
  ) {
    this.requests = scope.counter('requests');
    this.successes = scope.counter('successes');
    this.failures = scope.counter('failures');
    this.userExceptions = scope.counter('user_exceptions');
    this.inFlight = scope.gauge('in_flight');
    this.latency = scope.histogram('latency_ms');
  }

  started(): void {
    this.requests.value++;
    this.inFlight.value++;
  }

  finished(latencyMs: number, ok: boolean, outcome: unknown): void {
    this.inFlight.value--;
    this.latency.add(latencyMs);
    const code = ok ? (this.replyFailure === undefined ? undefined : this.replyFailure(outcome)) : outcomeCode(outcome);
    if (code === undefined) this.successes.value++;
    else if (code === USER_EXCEPTION) {
      this.successes.value++;
      this.userExceptions.value++;
    } else {
      this.failures.value++;
      let c = this.byCode.get(code);
      if (c === undefined) this.byCode.set(code, (c = this.scope.counter(`failures.${code}`)));
      c.value++;
    }
  }
}
