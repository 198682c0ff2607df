import { ClosedError, type ScalesError } from '../core/errors.js';
import { callByDispatch, dispatchTo } from '../core/dispatch.js';
import type { CallContext, ReplyHandler, Service, Status } from '../core/service.js';

/** What the pool needs of a connection-level service. */
export interface PooledSession<Req, Rep> extends Service<Req, Rep> {
  /** Calls in flight (the pool sends new calls to the least loaded session). */
  readonly load: number;
}

export interface PipelinePoolOptions {
  /** Connections kept to the node (default 1: pipelining makes one enough for most loads). */
  size?: number;
}

/**
 * A pool for protocols that carry many calls per connection (pipelined Thrift, Mux): up to
 * `size` sessions, each call on the least loaded open one. A new session is opened when every
 * open one is busy and the pool is below size; calls never wait for it unless there is none.
 */
export class PipelinePool<Req, Rep> implements Service<Req, Rep> {
  private readonly sessions: PooledSession<Req, Rep>[] = [];
  private connecting: Promise<PooledSession<Req, Rep>> | undefined;
  private closed = false;
  private readonly size: number;

  constructor(
    private readonly connect: (ctx: CallContext | undefined) => Promise<PooledSession<Req, Rep>>,
    options: PipelinePoolOptions = {},
  ) {
    this.size = Math.max(1, options.size ?? 1);
  }

  get status(): Status {
    if (this.closed) return 'closed';
    return 'open';
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    return callByDispatch(this, req, ctx);
  }

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    if (this.closed) return handler.onError(new ClosedError('client is closed'));
    const s = this.pick();
    if (s !== undefined) return s.dispatch !== undefined ? s.dispatch(req, ctx, handler) : dispatchTo(s, req, ctx, handler);
    this.open(ctx).then(
      (session) => dispatchTo(session, req, ctx, handler),
      (err: unknown) => handler.onError(err),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    const sessions = this.sessions.splice(0);
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  }

  private pick(): PooledSession<Req, Rep> | undefined {
    const sessions = this.sessions;
    let best: PooledSession<Req, Rep> | undefined;
    for (let i = 0; i < sessions.length; i++) {
      const s = sessions[i]!;
      if (s.status === 'closed') {
        sessions.splice(i--, 1);
        continue;
      }
      if (best === undefined || s.load < best.load) best = s;
    }
    // Grow in the background when even the least loaded session is in use.
    if (best !== undefined && best.load > 0 && sessions.length < this.size && this.connecting === undefined) {
      this.open(undefined).catch(() => undefined);
    }
    return best;
  }

  private open(ctx: CallContext | undefined): Promise<PooledSession<Req, Rep>> {
    if (this.connecting !== undefined) return this.connecting;
    const p = this.connect(ctx).then(
      (session) => {
        this.connecting = undefined;
        if (this.closed) {
          session.close().catch(() => undefined);
          throw new ClosedError('client is closed');
        }
        this.sessions.push(session);
        return session;
      },
      (err: ScalesError) => {
        this.connecting = undefined;
        throw err;
      },
    );
    this.connecting = p;
    return p;
  }
}
