import type { Counter, Gauge, StatsScope } from './registry.js';
import type { Histogram } from './histogram.js';
import { outcomeCode, USER_EXCEPTION } from './layer.js';

/**
 * One node's call stats, recorded by the load balancer as it starts and ends each attempt (it
 * already holds the node, the clock readings and the outcome, so this costs no promise, timer
 * or clock read of its own). Same names as the stats layer: `requests`, `successes`,
 * `failures`, `failures.<CODE>`, `user_exceptions`, `in_flight`, `latency_ms`.
 */
export class NodeStats {
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
