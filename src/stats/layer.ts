import { isScalesError } from '../core/errors.js';
import type { CallContext, Service, Status } from '../core/service.js';
import { layer, type StackLayer } from '../core/stack.js';
import { ThriftException } from '../protocols/thrift/descriptors.js';
import type { Counter, Gauge, StatsScope } from './registry.js';
import type { Histogram } from './histogram.js';

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

export const USER_EXCEPTION = 'USER_EXCEPTION';

export interface StatsLayerOptions<Rep> {
  /**
   * For layers that see raw replies (below the serializer): a failure code for a resolved reply,
   * or undefined for a success. See `thriftReplyFailure`.
   */
  replyFailure?: (rep: Rep) => string | undefined;
}

/**
 * Records, per call: `requests`; then `successes`, or `failures` plus `failures.<CODE>`;
 * declared exceptions count as `successes` AND `user_exceptions` (the server answered as the
 * IDL says); `in_flight` gauge; `latency_ms` histogram for every outcome. A cancelled call is a
 * failure with code CANCELLED.
 */
export class StatsService<Req, Rep> implements Service<Req, Rep> {
  private readonly requests: Counter;
  private readonly successes: Counter;
  private readonly failures: Counter;
  private readonly userExceptions: Counter;
  private readonly inFlight: Gauge;
  private readonly latency: Histogram;
  private readonly byCode = new Map<string, Counter>();
  private readonly replyFailure: ((rep: Rep) => string | undefined) | undefined;

  constructor(
    private readonly below: Service<Req, Rep>,
    private readonly scope: StatsScope,
    options: StatsLayerOptions<Rep>,
  ) {
    this.requests = scope.counter('requests');
    this.successes = scope.counter('successes');
    this.failures = scope.counter('failures');
    this.userExceptions = scope.counter('user_exceptions');
    this.inFlight = scope.gauge('in_flight');
    this.latency = scope.histogram('latency_ms');
    this.replyFailure = options.replyFailure;
  }

  get status(): Status {
    return this.below.status;
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    this.requests.value++;
    this.inFlight.value++;
    const start = ctx.start;
    let p: Promise<Rep>;
    try {
      p = this.below.call(req, ctx);
    } catch (err) {
      p = Promise.reject(err);
    }
    // The two callbacks are the promise chain's own cost; everything else is field updates.
    return p.then(
      (rep) => {
        this.done(start);
        const code = this.replyFailure === undefined ? undefined : this.replyFailure(rep);
        if (code === undefined) this.successes.value++;
        else this.fail(code);
        return rep;
      },
      (err: unknown) => {
        this.done(start);
        const code = outcomeCode(err);
        if (code === USER_EXCEPTION) {
          this.successes.value++;
          this.userExceptions.value++;
        } else this.fail(code);
        throw err;
      },
    );
  }

  close(): Promise<void> {
    return this.below.close();
  }

  private done(start: number): void {
    this.inFlight.value--;
    this.latency.add(performance.now() - start);
  }

  private fail(code: string): void {
    this.failures.value++;
    let c = this.byCode.get(code);
    if (c === undefined) this.byCode.set(code, (c = this.scope.counter(`failures.${code}`)));
    c.value++;
  }
}

/** Role 'stats': counts every call passing through into `scope` (see StatsService above). */
export function statsLayer<Req = unknown, Rep = unknown>(scope: StatsScope, options: StatsLayerOptions<Rep> = {}): StackLayer {
  return layer('stats', `requests, outcomes by code, in-flight, latency into '${scope.path}'`, (below: Service<Req, Rep>) => new StatsService(below, scope, options));
}
