import { dispatchTo, dispatcherOf } from '../core/dispatch.js';
import type { CallContext, ReplyHandler, Status } from '../core/service.js';
import type { Backoff } from '../resilience/backoff.js';
import { count, PoolBase } from './base.js';
import { drainConnections } from './drain.js';
import type { IdleAwareConnection } from './idle.js';
import type { PooledConnection } from './types.js';

/** What the pool needs of a connection-level service (the pools share one shape now). */
export type PooledSession<Req, Rep> = PooledConnection<Req, Rep>;

export interface PipelinePoolOptions {
  /** Connections kept to the node (default 1: pipelining makes one enough for most loads). */
  size?: number;
  /** Calls allowed to wait while no session is open (default 1000, at least 1); more fail with OverloadedError. */
  maxWaiters?: number;
  /** Delay before connect attempt n+1 after n consecutive failures (default: equal jitter 100 ms → 10 s). */
  backoff?: Backoff;
  /** How long `close()` lets in-flight calls finish, in ms (default 10000). */
  closeGrace?: number;
  /** `host:port`, for errors. */
  endpoint?: string;
}

/**
 * A pool for protocols that carry many calls per connection (pipelined Thrift, Mux): up to
 * `size` sessions, each call on the least loaded open one. A new session is opened when every
 * open one is busy and the pool is below size; calls never wait for it unless there is none
 * (then they wait in the shared queue: bounded, deadline and cancellation apply). Connect
 * failures back off as in the other pools; `close(grace)` drains each session.
 */
export class PipelinePool<Req, Rep> extends PoolBase<Req, Rep> {
  private readonly sessions: IdleAwareConnection<Req, Rep>[] = [];
  private connecting = false;
  private readonly maxSize: number;

  constructor(
    private readonly connect: (ctx: CallContext | undefined) => Promise<PooledSession<Req, Rep>>,
    options: PipelinePoolOptions = {},
  ) {
    super({
      maxWaiters: count('maxWaiters', options.maxWaiters ?? 1000, 1),
      waitTimeout: Infinity,
      backoff: options.backoff,
      closeGrace: options.closeGrace,
      endpoint: options.endpoint,
      name: 'connection pool',
      target: 'a connection',
    });
    this.maxSize = Math.max(1, options.size ?? 1);
  }

  /**
   * 'busy' while connects back off and no session is open. A session still open serves calls,
   * so a failed attempt to grow does not make the balancer avoid the node.
   */
  get status(): Status {
    if (this.closed) return 'closed';
    return this.gate.backingOff && this.pick(false) === undefined ? 'busy' : 'open';
  }

  /** Sessions open or being opened. */
  get size(): number {
    this.pick(false);
    return this.sessions.length + (this.connecting ? 1 : 0);
  }

  /** Calls in flight over every session. */
  get load(): number {
    let n = 0;
    for (const s of this.sessions) n += s.load;
    return n;
  }

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    ctx.endpoint = this.endpoint;
    if (this.closed) return handler.onError(this.closedError());
    const s = this.pick(true);
    if (s !== undefined) return s.dispatch !== undefined ? s.dispatch(req, ctx, handler) : dispatchTo(s, req, ctx, handler);
    if (ctx.cancelled !== undefined) return handler.onError(ctx.cancelled);
    if (!this.connecting && this.gate.backingOff) return handler.onError(this.gate.fastFail());
    if (this.enqueue(req, ctx, handler, this.maxWaiters) && !this.connecting) this.open(ctx);
  }

  protected drain(graceMs: number): Promise<void> {
    return drainConnections(this.sessions.splice(0), graceMs);
  }

  /** The least loaded open session (dropping closed ones); with `grow`, opens another when it is busy. */
  private pick(grow: boolean): IdleAwareConnection<Req, Rep> | undefined {
    const sessions = this.sessions;
    let best: IdleAwareConnection<Req, Rep> | undefined;
    for (let i = 0; i < sessions.length; i++) {
      const s = sessions[i]!;
      if (s.status === 'closed') {
        sessions.splice(i--, 1);
        continue;
      }
      if (best === undefined || s.load < best.load) best = s;
    }
    // Grow in the background when even the least loaded session is in use.
    if (grow && best !== undefined && best.load > 0 && sessions.length < this.maxSize && !this.connecting && !this.gate.backingOff) {
      this.open(undefined);
    }
    return best;
  }

  private open(ctx: CallContext | undefined): void {
    this.connecting = true;
    this.connect(ctx).then(
      (conn) => this.opened(conn),
      (err: unknown) => this.openFailed(err),
    );
  }

  private opened(conn: PooledSession<Req, Rep>): void {
    this.connecting = false;
    const s = this.adopt(conn);
    if (s === undefined) return;
    this.sessions.push(s);
    this.serveFrom(s);
  }

  private openFailed(err: unknown): void {
    this.connecting = false;
    const e = this.gate.failed(err);
    // Waiters exist only while no session was open; one may have opened since (not this one).
    const s = this.pick(false);
    if (s !== undefined) this.serveFrom(s);
    else this.queue.failAll(e);
  }

  private serveFrom(s: IdleAwareConnection<Req, Rep>): void {
    if (this.queue.size === 0) return;
    const down = dispatcherOf(s);
    this.serveWaiters((w) => down.dispatch(w.req, w.ctx, w.handler));
  }
}
