import { OverloadedError, stackless } from '../../core/errors.js';
import type { ReplyHandler } from '../../core/service.js';
import type { ServerRequest } from '../codec.js';
import type { ServerRequestContext } from '../context.js';
import { ServerFilter, serverLayer, type ServerService } from '../filter.js';

/** Gives the permit back when the handler is really done (not when a timeout answered early). */
class PermitHandler implements ReplyHandler<unknown> {
  constructor(
    private readonly limit: ConcurrencyFilter<ServerRequest>,
    private readonly next: ReplyHandler<unknown>,
  ) {}

  onReply(value: unknown): void {
    this.limit.inFlight--;
    this.next.onReply(value);
  }

  onError(err: unknown): void {
    this.limit.inFlight--;
    this.next.onError(err);
  }
}

/**
 * Role 'concurrency': at most `max` handlers run at once in the whole server (oneway ones
 * included); past it a request is answered at once with the codec's overload rejection instead
 * of queueing (a queue only adds latency the caller's deadline pays for). It sits below the
 * deadline role so that a handler still running after its timeout answer keeps its permit.
 */
export class ConcurrencyFilter<Req extends ServerRequest> extends ServerFilter<Req> {
  inFlight = 0;

  constructor(
    below: ServerService<Req>,
    readonly max: number,
  ) {
    super(below);
  }

  dispatch(req: Req, ctx: ServerRequestContext<Req>, handler: ReplyHandler<unknown>): void {
    if (this.inFlight >= this.max) {
      // Refusals come in floods under overload: no stack (see `stackless`), and the codec writes
      // its own rejection (Mux: NACK) without the message.
      return handler.onError(
        stackless(() => new OverloadedError(`server overloaded: ${this.inFlight} requests running (maxConcurrent ${this.max}); ${req.method} not run, try another server`, { endpoint: ctx.peer })),
      );
    }
    this.inFlight++;
    this.down.dispatch(req, ctx, new PermitHandler(this as ConcurrencyFilter<ServerRequest>, handler));
  }
}

export function concurrencyLayer<Req extends ServerRequest>(max: number | undefined) {
  if (max === undefined || max === Infinity) return serverLayer<Req>('concurrency', 'off (no maxConcurrent): requests pass untouched', (below) => below);
  return serverLayer<Req>('concurrency', `at most ${max} handlers at once (oneway included); past it: overload rejection at once`, (below) => new ConcurrencyFilter(below, max));
}
