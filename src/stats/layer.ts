import type { CallContext, Service, Status } from '../core/service.js';
import { layer, type StackLayer } from '../core/stack.js';
import { CallStats } from './call-stats.js';
import type { StatsScope } from './registry.js';

export { outcomeCode, USER_EXCEPTION } from './call-stats.js';

export interface StatsLayerOptions<Rep> {
  /**
   * For layers that see raw replies (below the serializer): a failure code for a resolved reply,
   * or undefined for a success. See `thriftReplyFailure`.
   */
  replyFailure?: (rep: Rep) => string | undefined;
}

/** Records every call passing through into a CallStats (latency from the call's own start). */
export class StatsService<Req, Rep> implements Service<Req, Rep> {
  private readonly stats: CallStats;

  constructor(
    private readonly below: Service<Req, Rep>,
    scope: StatsScope,
    options: StatsLayerOptions<Rep>,
  ) {
    this.stats = new CallStats(scope, options.replyFailure as ((rep: unknown) => string | undefined) | undefined);
  }

  get status(): Status {
    return this.below.status;
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    const stats = this.stats;
    stats.started();
    let p: Promise<Rep>;
    try {
      p = this.below.call(req, ctx);
    } catch (err) {
      p = Promise.reject(err);
    }
    // The two callbacks are the promise chain's own cost; the rest is field updates.
    return p.then(
      (rep) => {
        stats.finished(ctx.settledAt() - ctx.start, true, rep);
        return rep;
      },
      (err: unknown) => {
        stats.finished(ctx.settledAt() - ctx.start, false, err);
        throw err;
      },
    );
  }

  close(): Promise<void> {
    return this.below.close();
  }
}

/** Role 'stats': counts every call passing through into `scope` (see StatsService above). */
export function statsLayer<Req = unknown, Rep = unknown>(scope: StatsScope, options: StatsLayerOptions<Rep> = {}): StackLayer {
  return layer('stats', `requests, outcomes by code, in-flight, latency into '${scope.path}'`, (below: Service<Req, Rep>) => new StatsService(below, scope, options));
}
