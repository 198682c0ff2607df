import type { Counter, StatsScope } from './registry.js';
import type { Histogram } from './histogram.js';
import { defaultClassifier, USER_EXCEPTION, type ResponseClassifier } from '../core/classify.js';

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
    /** The outcome codes: the protocol's classifier for what this scope sees (default: the default table). */
    private readonly classifier: ResponseClassifier = defaultClassifier,
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
    const code = this.classifier.code(ok, outcome);
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
