import { callByDispatch, dispatcherOf, type Dispatcher } from './dispatch.js';
import type { CallContext, ReplyHandler, Service, Status } from './service.js';

/**
 * The base of a role that forwards to one service below it: status, close and the promise
 * `call` come from here, so a role writes only its `dispatch` (the hot path stays the role's
 * own code, calling its own `down`: one shared call site for every role would be megamorphic).
 * `Req`/`Rep` are what the role takes; `BReq`/`BRep` what the service below it takes (they differ
 * for a serializer).
 */
export abstract class ForwardingService<Req, Rep, BReq = Req, BRep = Rep> implements Service<Req, Rep> {
  protected readonly down: Dispatcher<BReq, BRep>;

  constructor(protected readonly below: Service<BReq, BRep>) {
    this.down = dispatcherOf(below);
  }

  get status(): Status {
    return this.below.status;
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    return callByDispatch(this, req, ctx);
  }

  abstract dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void;

  close(): Promise<void> {
    return this.below.close();
  }
}
