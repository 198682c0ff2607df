import { runWithContext } from '../../core/context.js';
import { ScalesError } from '../../core/errors.js';
import type { ReplyHandler, Status } from '../../core/service.js';
import { callByDispatch } from '../../core/dispatch.js';
import type { ServerRequest } from '../codec.js';
import type { ServerRequestContext } from '../context.js';
import { serverLayer, type ServerService } from '../filter.js';
import { thenOf } from '../safe.js';

/** A handler method: positional arguments, then the request context. */
export type HandlerFn = (...args: unknown[]) => unknown;

const nativeThen = Promise.prototype.then;

/** Settles a foreign thenable's outcome once, whatever it calls how often. */
class Once implements ReplyHandler<unknown> {
  private done = false;
  constructor(private readonly next: ReplyHandler<unknown>) {}
  onReply(value: unknown): void {
    if (this.done) return;
    this.done = true;
    this.next.onReply(value);
  }
  onError(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.next.onError(err);
  }
}

/**
 * The terminal role 'handler': calls the user's method with the decoded arguments and the request
 * context, inside the ambient context (nested client calls inherit the deadline, signal and
 * values). A plain return value is answered at once, with no promise; a promise's outcome when it
 * settles. Whatever the handler does — throw anything, return a thenable whose `then` throws or
 * calls back twice — yields exactly one outcome.
 */
export class HandlerService<Req extends ServerRequest> implements ServerService<Req> {
  constructor(
    private readonly target: object,
    private readonly fns: ReadonlyMap<string, HandlerFn>,
    private readonly propagateContext: boolean,
  ) {}

  readonly status: Status = 'open';

  dispatch(req: Req, ctx: ServerRequestContext<Req>, handler: ReplyHandler<unknown>): void {
    const fn = this.fns.get(req.method);
    if (fn === undefined) return handler.onError(new ScalesError('SCALES_ERR_APPLICATION', `no handler for ${req.method}`));
    const args = req.args;
    args[args.length - 1] = ctx;
    const target = this.target;
    let result: unknown;
    let then: ReturnType<typeof thenOf>;
    try {
      result = this.propagateContext ? runWithContext(ctx, () => fn.apply(target, args)) : fn.apply(target, args);
      // Reading `then` runs user code too (a getter, a Proxy trap): a throw is the call's failure.
      then = thenOf(result);
    } catch (err) {
      return handler.onError(err);
    }
    if (then === undefined) return handler.onReply(result);
    if (then === nativeThen) {
      // A native promise calls back once; the callbacks below never throw (handlers must not), so
      // the promise `then` returns never rejects unhandled.
      (result as Promise<unknown>).then(
        (value) => handler.onReply(value),
        (err: unknown) => handler.onError(err),
      );
      return;
    }
    const once = new Once(handler);
    try {
      then.call(
        result,
        (value) => once.onReply(value),
        (err) => once.onError(err),
      );
    } catch (err) {
      once.onError(err);
    }
  }

  call(req: Req, ctx: ServerRequestContext<Req>): Promise<unknown> {
    return callByDispatch(this, req, ctx);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export function handlerLayer<Req extends ServerRequest>(serviceName: string, target: object, fns: ReadonlyMap<string, HandlerFn>, propagateContext: boolean) {
  return serverLayer<Req>('handler', `${serviceName} handler (${fns.size} methods)${propagateContext ? ', in the ambient context' : ''}`, () => new HandlerService<Req>(target, fns, propagateContext));
}
