/**
 * The stack's promise-free call path (see `Service.dispatch`): a layer passes the call down with
 * a handler of its own that sees the outcome and hands it on, as undici's dispatchers do. Only
 * the caller's promise is made, at the top (`callByDispatch`); a service without `dispatch` is
 * reached through its promise.
 *
 * Each layer keeps its own `Dispatcher` for what is below it (`dispatcherOf`, once) and calls it
 * from its own code. One shared helper making every layer's call would be a single call site
 * seeing every layer's class, which V8 then neither inlines nor caches (measured: twice the cost).
 */
import type { CallContext, ReplyHandler, Service } from './service.js';

export interface Dispatcher<Req, Rep, Ctx = CallContext> {
  dispatch(req: Req, ctx: Ctx, handler: ReplyHandler<Rep>): void;
}

/** Reaches a service that only has `call`, through its promise. */
class PromiseDispatcher<Req, Rep, Ctx> implements Dispatcher<Req, Rep, Ctx> {
  constructor(private readonly svc: Service<Req, Rep, Ctx>) {}

  dispatch(req: Req, ctx: Ctx, handler: ReplyHandler<Rep>): void {
    let p: Promise<Rep>;
    try {
      p = this.svc.call(req, ctx);
    } catch (err) {
      return handler.onError(err);
    }
    settleInto(p, handler);
  }
}

/** `svc` itself when it dispatches, else an adapter over its `call`. */
export function dispatcherOf<Req, Rep, Ctx = CallContext>(svc: Service<Req, Rep, Ctx>): Dispatcher<Req, Rep, Ctx> {
  return svc.dispatch !== undefined ? (svc as Dispatcher<Req, Rep, Ctx>) : new PromiseDispatcher(svc);
}

/** Sends `req` down `svc` once (off the hot path: hot paths keep a `dispatcherOf`). */
export function dispatchTo<Req, Rep, Ctx = CallContext>(svc: Service<Req, Rep, Ctx>, req: Req, ctx: Ctx, handler: ReplyHandler<Rep>): void {
  dispatcherOf(svc).dispatch(req, ctx, handler);
}

/** Hands a promise's outcome to `handler`. */
export function settleInto<Rep>(p: Promise<Rep>, handler: ReplyHandler<Rep>): void {
  p.then(
    (rep) => handler.onReply(rep),
    (err: unknown) => handler.onError(err),
  );
}

/** `call` for a service that implements `dispatch`: the one promise of the call. */
export function callByDispatch<Req, Rep, Ctx = CallContext>(svc: Dispatcher<Req, Rep, Ctx>, req: Req, ctx: Ctx): Promise<Rep> {
  return new Promise<Rep>((resolve, reject) => svc.dispatch(req, ctx, { onReply: resolve, onError: reject }));
}
