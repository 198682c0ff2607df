import { performance } from '../core/clock.js';
import { ForwardingService } from '../core/filter.js';
import type { CallContext, ReplyHandler, Service } from '../core/service.js';
import { layer, type StackLayer } from '../core/stack.js';
import type { ResponseClassifier } from '../core/classify.js';
import { CallStats } from './call-stats.js';
import type { StatsScope } from './registry.js';

export interface StatsLayerOptions {
  /** The protocol's classifier for what this layer sees (its outcome codes; default: the default table). */
  classifier?: ResponseClassifier;
}

/** Records one call's outcome (latency from the call's own start), then hands it on. */
class StatsHandler<Rep> implements ReplyHandler<Rep> {
  constructor(
    private readonly stats: CallStats,
    private readonly ctx: CallContext,
    private readonly next: ReplyHandler<Rep>,
  ) {}

  // `at`: when the outcome was known below (the balancer's attempt end, a socket read), else now.
  onReply(rep: Rep, at?: number): void {
    this.stats.finished((at || performance.now()) - this.ctx.start, true, rep);
    this.next.onReply(rep, at);
  }

  onError(err: unknown, at?: number): void {
    this.stats.finished((at || performance.now()) - this.ctx.start, false, err);
    this.next.onError(err, at);
  }
}

/** StatsHandler for a call made by `call`: settles its promise. */
class StatsPromiseHandler<Rep> implements ReplyHandler<Rep> {
  constructor(
    private readonly stats: CallStats,
    private readonly ctx: CallContext,
    private readonly resolve: (rep: Rep) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  onReply(rep: Rep, at?: number): void {
    this.stats.finished((at || performance.now()) - this.ctx.start, true, rep);
    this.resolve(rep);
  }

  onError(err: unknown, at?: number): void {
    this.stats.finished((at || performance.now()) - this.ctx.start, false, err);
    this.reject(err);
  }
}

/** Records every call passing through into a CallStats. */
export class StatsService<Req, Rep> extends ForwardingService<Req, Rep> {
  private readonly stats: CallStats;

  constructor(below: Service<Req, Rep>, scope: StatsScope, options: StatsLayerOptions) {
    super(below);
    this.stats = new CallStats(scope, options.classifier);
  }

  override call(req: Req, ctx: CallContext): Promise<Rep> {
    // The outermost role: its handler settles the caller's promise itself (one object and one
    // call fewer per call than a handler in front of callByDispatch's).
    return new Promise<Rep>((resolve, reject) => {
      this.stats.started();
      this.down.dispatch(req, ctx, new StatsPromiseHandler(this.stats, ctx, resolve, reject));
    });
  }

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    this.stats.started();
    this.down.dispatch(req, ctx, new StatsHandler(this.stats, ctx, handler));
  }
}

/** Role 'stats': counts every call passing through into `scope` (see StatsService above). */
export function statsLayer<Req = unknown, Rep = unknown>(scope: StatsScope, options: StatsLayerOptions = {}): StackLayer {
  return layer('stats', `requests, outcomes by code, in-flight, latency into '${scope.path}'`, (below: Service<Req, Rep>) => new StatsService(below, scope, options));
}
