import { callByDispatch, dispatcherOf, type Dispatcher } from '../core/dispatch.js';
import type { ReplyHandler, Service, Status } from '../core/service.js';
import type { StackLayer } from '../core/stack.js';
import type { ServerRequest } from './codec.js';
import type { ServerRequestContext } from './context.js';

/**
 * A server filter or the handler at the bottom: the client's `Service` shape with the server's
 * request context. Calls cross the stack by `dispatch` with reply handlers (one object per role
 * that has to see the outcome; none per role that only passes it on), never a promise per role.
 */
export type ServerService<Req extends ServerRequest = ServerRequest> = Service<Req, unknown, ServerRequestContext<Req>>;

/** Base of the server roles: `call` over `dispatch`, status and close passed down. */
export abstract class ServerFilter<Req extends ServerRequest> implements ServerService<Req> {
  protected readonly down: Dispatcher<Req, unknown, ServerRequestContext<Req>>;

  constructor(protected readonly below: ServerService<Req>) {
    this.down = dispatcherOf(below);
  }

  abstract dispatch(req: Req, ctx: ServerRequestContext<Req>, handler: ReplyHandler<unknown>): void;

  call(req: Req, ctx: ServerRequestContext<Req>): Promise<unknown> {
    return callByDispatch(this, req, ctx);
  }

  get status(): Status {
    return this.below.status;
  }

  close(): Promise<void> {
    return this.below.close();
  }
}

/**
 * A named server role for `Stack` (core/stack.ts types its layers as client services; a server
 * layer wraps a ServerService, so it is built here).
 */
export function serverLayer<Req extends ServerRequest>(role: string, description: string, make: (below: ServerService<Req>) => ServerService<Req>): StackLayer {
  return { role, description, make: make as (below: unknown) => unknown };
}
