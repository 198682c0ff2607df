import { ScalesError } from '../../core/errors.js';
import type { ReplyHandler } from '../../core/service.js';
import type { ServerRequest } from '../codec.js';
import type { ServerRequestContext } from '../context.js';
import { ServerFilter, serverLayer, type ServerService } from '../filter.js';
import { describeError } from '../safe.js';

/** Says whether a value is one of the request's declared exceptions (must not throw). */
export type DeclaredCheck<Req> = (req: Req, err: unknown) => boolean;

class MapHandler<Req extends ServerRequest> implements ReplyHandler<unknown> {
  constructor(
    private readonly filter: ErrorsFilter<Req>,
    private readonly req: Req,
    private readonly next: ReplyHandler<unknown>,
  ) {}

  onReply(value: unknown): void {
    this.next.onReply(value);
  }

  onError(err: unknown): void {
    this.next.onError(this.filter.map(this.req, err));
  }
}

/**
 * Role 'errors': what a handler throws becomes either a declared exception (passed on as it is,
 * for the codec's declared-exception answer) or an APPLICATION ScalesError whose message is the
 * INTERNAL_ERROR text (`Internal error processing <method>: <message>`, formatted safely; the
 * message only with `exposeErrors`) and whose cause is what was thrown. Everything the handler
 * throws is mapped, ScalesErrors included: a nested call's TimeoutError is this handler's internal
 * error, not the server's own timeout.
 */
export class ErrorsFilter<Req extends ServerRequest> extends ServerFilter<Req> {
  constructor(
    below: ServerService<Req>,
    private readonly isDeclared: DeclaredCheck<Req>,
    private readonly exposeErrors: boolean,
  ) {
    super(below);
  }

  dispatch(req: Req, ctx: ServerRequestContext<Req>, handler: ReplyHandler<unknown>): void {
    this.down.dispatch(req, ctx, new MapHandler(this, req, handler));
  }

  map(req: Req, err: unknown): unknown {
    if (this.isDeclared(req, err)) return err;
    const detail = this.exposeErrors ? `: ${describeError(err)}` : '';
    return new ScalesError('SCALES_ERR_APPLICATION', `Internal error processing ${req.method}${detail}`, { cause: err });
  }
}

export function errorsLayer<Req extends ServerRequest>(isDeclared: DeclaredCheck<Req>, exposeErrors: boolean) {
  return serverLayer<Req>(
    'errors',
    `declared exceptions as the IDL says; anything else INTERNAL_ERROR${exposeErrors ? ' with its message' : ' (message hidden)'}`,
    (below) => new ErrorsFilter(below, isDeclared, exposeErrors),
  );
}
