import { turnNow } from '../../core/clock.js';
import type { ReplyHandler } from '../../core/service.js';
import { CallStats } from '../../stats/call-stats.js';
import type { StatsScope } from '../../stats/registry.js';
import type { ServerRequest } from '../codec.js';
import type { OutcomeObserver, ServerRequestContext } from '../context.js';
import { ServerFilter, serverLayer, type ServerService } from '../filter.js';

function since(start: number): number {
  const d = turnNow() - start;
  return d > 0 ? d : 0;
}

/** Records one request's outcome (latency from when it was read), then hands it on. */
class StatsHandler implements ReplyHandler<unknown> {
  constructor(
    private readonly stats: CallStats,
    private readonly start: number,
    private readonly next: ReplyHandler<unknown>,
  ) {}

  // The end is read once per synchronous run (turnNow): answers given within one socket read's
  // batch share one reading, as they share one write flush.
  onReply(value: unknown): void {
    this.stats.finished(since(this.start), true, value);
    this.next.onReply(value);
  }

  onError(err: unknown): void {
    try {
      // Classifying runs `instanceof` on what may still be a user value (a declared exception).
      this.stats.finished(since(this.start), false, err);
    } catch {
      // A value whose prototype chain throws: uncounted, still answered.
    }
    this.next.onError(err);
  }
}

/** Role 'stats': requests, successes, failures by code, in_flight, latency_ms of the server. */
export class ServerStatsFilter<Req extends ServerRequest> extends ServerFilter<Req> implements OutcomeObserver {
  private readonly stats: CallStats;

  constructor(below: ServerService<Req>, scope: StatsScope) {
    super(below);
    this.stats = new CallStats(scope, undefined);
  }

  dispatch(req: Req, ctx: ServerRequestContext<Req>, handler: ReplyHandler<unknown>): void {
    this.stats.started();
    if (handler === ctx && ctx.observer === undefined) {
      // The top of the stack (as by default): what reaches the context is what this role sees,
      // so the context reports it here and no handler object is made per request.
      ctx.observer = this;
      return this.down.dispatch(req, ctx, handler);
    }
    this.down.dispatch(req, ctx, new StatsHandler(this.stats, ctx.start, handler));
  }

  /** @internal OutcomeObserver: as StatsHandler records it. */
  observe(start: number, ok: boolean, outcome: unknown): void {
    try {
      // Classifying runs `instanceof` on what may still be a user value (a declared exception).
      this.stats.finished(since(start), ok, outcome);
    } catch {
      // A value whose prototype chain throws: uncounted, still answered.
    }
  }
}

export function serverStatsLayer<Req extends ServerRequest>(scope: StatsScope) {
  return serverLayer<Req>('stats', `requests, successes, failures by code, in_flight, latency_ms into '${scope.path}'`, (below) => new ServerStatsFilter(below, scope));
}
