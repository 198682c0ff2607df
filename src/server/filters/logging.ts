import { ScalesError } from '../../core/errors.js';
import type { ReplyHandler } from '../../core/service.js';
import type { ServerRequest } from '../codec.js';
import type { ServerRequestContext } from '../context.js';
import { ServerFilter, serverLayer, type ServerService } from '../filter.js';
import { describeError, isInstance, report, type ErrorHook } from '../safe.js';

/** The default `onError`: one line on stderr per handler crash or protocol error. */
export const logToStderr: ErrorHook = (err, where) => {
  console.error(`scales server: ${where}: ${describeError(err)}`);
};

/** Reports a handler's crash (what it threw, before mapping) to the hook, once. */
class LogHandler implements ReplyHandler<unknown> {
  constructor(
    private readonly hook: ErrorHook,
    private readonly req: ServerRequest,
    private readonly next: ReplyHandler<unknown>,
  ) {}

  onReply(value: unknown): void {
    this.next.onReply(value);
  }

  onError(err: unknown): void {
    // The errors role below turned the crash into an APPLICATION error; the hook gets the cause.
    if (isInstance(err, ScalesError) && err.code === 'SCALES_ERR_APPLICATION') {
      report(this.hook, err.cause, `${this.req.oneway ? 'oneway' : 'handler'} ${this.req.method}`);
    }
    this.next.onError(err);
  }
}

/**
 * Role 'logging': handler crashes go to `onError(err, where)` (declared exceptions are answers,
 * not crashes). It sits below the deadline role, so a crash after the timeout answer is still seen.
 */
export class LoggingFilter<Req extends ServerRequest> extends ServerFilter<Req> {
  constructor(
    below: ServerService<Req>,
    private readonly hook: ErrorHook,
  ) {
    super(below);
  }

  dispatch(req: Req, ctx: ServerRequestContext<Req>, handler: ReplyHandler<unknown>): void {
    this.down.dispatch(req, ctx, new LogHandler(this.hook, req, handler));
  }
}

export function loggingLayer<Req extends ServerRequest>(hook: ErrorHook | undefined, isDefault: boolean) {
  if (hook === undefined) return serverLayer<Req>('logging', 'off (onError: false)', (below) => below);
  return serverLayer<Req>('logging', `handler crashes to ${isDefault ? 'stderr (console.error)' : 'onError'}`, (below) => new LoggingFilter(below, hook));
}
