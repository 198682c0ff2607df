import { dispatchTo, dispatcherOf } from '../core/dispatch.js';
import type { CallContext, ReplyHandler, Status } from '../core/service.js';
import type { Backoff } from '../resilience/backoff.js';
import { count, PoolBase } from './base.js';
import { drainConnections } from './drain.js';
import type { IdleAwareConnection } from './idle.js';
import type { Connector, PooledConnection } from './types.js';

export interface SingletonPoolOptions {
  /** Calls allowed to wait for the connect in progress (default 1000, at least 1); more fail with OverloadedError. */
  maxWaiters?: number;
  /** Delay before connect attempt n+1 after n consecutive failures (default: equal jitter 100 ms → 10 s). */
  backoff?: Backoff;
  /** How long `close()` lets in-flight calls finish, in ms (default 10000). */
  closeGrace?: number;
  /** `host:port`, for errors. */
  endpoint?: string;
}

/**
 * One shared multiplexed session per node (Mux, pipelined Thrift): connected lazily on the first
 * call; every call goes straight to it (no per-call work in the pool); when it closes, the next
 * call reconnects. Calls arriving during a connect wait for that same connect (their deadline and
 * cancellation apply; the connector bounds the connect itself). Connect failures back off like
 * WatermarkPool: status 'busy', calls fail fast with ConnectError (unwritten) until the next try.
 * `close(grace)` closes the session as soon as its calls are done, or cuts it at the grace.
 */
export class SingletonPool<Req, Rep> extends PoolBase<Req, Rep> {
  private session: IdleAwareConnection<Req, Rep> | undefined = undefined;
  private connecting = false;

  constructor(
    private readonly connect: Connector<Req, Rep>,
    options: SingletonPoolOptions = {},
  ) {
    super({
      // Every call waits for the first connect, so 0 would make a cold pool unusable.
      maxWaiters: count('maxWaiters (calls wait for the connect)', options.maxWaiters ?? 1000, 1),
      waitTimeout: Infinity,
      backoff: options.backoff,
      closeGrace: options.closeGrace,
      endpoint: options.endpoint,
      name: 'connection',
      target: 'the connection',
    });
  }

  get status(): Status {
    if (this.closed) return 'closed';
    if (this.gate.backingOff) return 'busy';
    const s = this.session;
    return s === undefined || s.status === 'closed' ? 'open' : s.status;
  }

  /** Calls in flight on the session. */
  get load(): number {
    return this.session?.load ?? 0;
  }

  /** True while a session is open. */
  get connected(): boolean {
    return this.session !== undefined && this.session.status !== 'closed';
  }

  override call(req: Req, ctx: CallContext): Promise<Rep> {
    const s = this.session;
    if (s !== undefined && s.status !== 'closed') return s.call(req, ctx);
    return super.call(req, ctx);
  }

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    ctx.endpoint = this.endpoint;
    const s = this.session;
    if (s !== undefined && s.status !== 'closed') return s.dispatch !== undefined ? s.dispatch(req, ctx, handler) : dispatchTo(s, req, ctx, handler);
    this.dispatchSlow(req, ctx, handler);
  }

  protected drain(graceMs: number): Promise<void> {
    const s = this.session;
    this.session = undefined;
    return drainConnections(s === undefined ? [] : [s], graceMs);
  }

  private dispatchSlow(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    if (this.closed) return handler.onError(this.closedError());
    if (ctx.cancelled !== undefined) return handler.onError(ctx.cancelled);
    this.session = undefined; // closed: reconnect
    if (!this.connecting && this.gate.backingOff) return handler.onError(this.gate.fastFail());
    if (this.enqueue(req, ctx, handler, this.maxWaiters) && !this.connecting) this.startConnect();
  }

  private startConnect(): void {
    this.connecting = true;
    this.connect().then(
      (conn) => this.onConnected(conn),
      (err: unknown) => {
        this.connecting = false;
        this.queue.failAll(this.gate.failed(err));
      },
    );
  }

  private onConnected(conn: PooledConnection<Req, Rep>): void {
    this.connecting = false;
    const s = this.adopt(conn);
    if (s === undefined) return;
    this.session = s;
    const down = dispatcherOf(s);
    this.serveWaiters((w) => down.dispatch(w.req, w.ctx, w.handler));
  }
}
