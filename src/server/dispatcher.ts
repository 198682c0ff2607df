import { dispatcherOf, type Dispatcher } from '../core/dispatch.js';
import { ClosedError } from '../core/errors.js';
import type { ServerCodec, ServerRequest } from './codec.js';
import type { ServerRequestContext } from './context.js';
import { report, type ErrorHook } from './safe.js';
import type { ServerSession } from './session.js';
import type { ServerService } from './stack.js';

export interface ServerDispatcherOptions {
  /** Requests running at once per session before its reading pauses. */
  maxConcurrentPerConnection: number;
  /** Connection failures and protocol errors (handler crashes are the logging role's). */
  onError: ErrorHook | undefined;
}

/**
 * The server-wide half of the dispatcher: one server stack and one codec shared by every session,
 * the set of live sessions, and graceful shutdown. Transport-neutral: a session (stream-session.ts
 * for byte streams) reads requests and hands them to `dispatch`.
 */
export class ServerDispatcher<Out, Req extends ServerRequest> {
  readonly sessions = new Set<ServerSession<Out, Req>>();
  readonly maxConcurrentPerConnection: number;
  readonly onError: ErrorHook | undefined;
  private readonly top: Dispatcher<Req, unknown, ServerRequestContext<Req>>;
  private closing: Promise<void> | undefined;

  constructor(
    readonly codec: ServerCodec<unknown, Out, Req>,
    readonly service: ServerService<Req>,
    options: ServerDispatcherOptions,
  ) {
    this.top = dispatcherOf(service);
    this.maxConcurrentPerConnection = options.maxConcurrentPerConnection;
    this.onError = options.onError;
  }

  /** True once `close` began: new sessions are drained at once. */
  get draining(): boolean {
    return this.closing !== undefined;
  }

  /** Sends a request down the stack; the context is the last handler of the chain. */
  dispatch(req: Req, ctx: ServerRequestContext<Req>): void {
    try {
      this.top.dispatch(req, ctx, ctx);
    } catch (err) {
      // A layer threw instead of calling its handler (a bug in a custom filter): still one answer.
      report(this.onError, err, `server stack for ${req.method}`);
      ctx.onError(err);
    }
  }

  add(session: ServerSession<Out, Req>): void {
    this.sessions.add(session);
    if (this.closing !== undefined) void session.drain();
  }

  remove(session: ServerSession<Out, Req>): void {
    this.sessions.delete(session);
  }

  /**
   * Graceful shutdown: every session stops reading and closes once its running requests are
   * answered. After `graceMs`, the requests still running are aborted (their signal fires with a
   * ClosedError) and their sessions closed.
   */
  close(graceMs: number): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all([...this.sessions].map((s) => s.drain())), grace]);
    clearTimeout(timer);
    const reason = new ClosedError('server shutting down');
    for (const s of [...this.sessions]) {
      s.abortAll(reason);
      s.close();
    }
  }
}
