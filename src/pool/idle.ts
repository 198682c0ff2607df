/**
 * Knowing when a connection (or a pool) has no call in flight, without polling: a counter that
 * wakes its waiters when it drops to zero, and an adapter giving `whenIdle()` to a connection
 * that lacks it.
 */
import { callByDispatch, dispatcherOf, type Dispatcher } from '../core/dispatch.js';
import type { CallContext, ReplyHandler, Status } from '../core/service.js';
import type { PooledConnection } from './types.js';

/** Calls in flight, and promises waiting for there to be none. */
export class InFlight {
  n = 0;
  private wake: (() => void)[] | undefined = undefined;

  enter(): void {
    this.n++;
  }

  leave(): void {
    if (--this.n === 0 && this.wake !== undefined) {
      const wake = this.wake;
      this.wake = undefined;
      for (const f of wake) f();
    }
  }

  /** Resolves when no call is in flight (at once when none is). */
  idle(): Promise<void> {
    if (this.n === 0) return Promise.resolve();
    return new Promise((resolve) => (this.wake ??= []).push(resolve));
  }
}

/** A connection a pool can drain without polling. */
export type IdleAwareConnection<Req, Rep> = PooledConnection<Req, Rep> & { whenIdle(): Promise<void> };

/** `conn` itself when it has `whenIdle`, else an adapter that counts the calls sent through it. */
export function idleAware<Req, Rep>(conn: PooledConnection<Req, Rep>): IdleAwareConnection<Req, Rep> {
  return conn.whenIdle !== undefined ? (conn as IdleAwareConnection<Req, Rep>) : new CountingConnection(conn);
}

/**
 * The fallback for a connection without `whenIdle`: one small handler per call, which sees the
 * outcome and counts it. A connection that offers `whenIdle` costs the pool nothing per call.
 */
class CountingConnection<Req, Rep> implements IdleAwareConnection<Req, Rep> {
  readonly inFlight = new InFlight();
  private readonly down: Dispatcher<Req, Rep>;

  constructor(private readonly conn: PooledConnection<Req, Rep>) {
    this.down = dispatcherOf(conn);
  }

  get load(): number {
    return this.conn.load;
  }

  get abandoned(): number | undefined {
    return this.conn.abandoned;
  }

  get status(): Status {
    return this.conn.status;
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    return callByDispatch(this, req, ctx);
  }

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    this.inFlight.enter();
    this.down.dispatch(req, ctx, new Counted(this.inFlight, handler));
  }

  whenIdle(): Promise<void> {
    return this.inFlight.idle();
  }

  close(): Promise<void> {
    return this.conn.close();
  }

  /** Cuts the connection; one without `abort` is closed (gracefully: all it offers). */
  abort(): void {
    if (this.conn.abort !== undefined) this.conn.abort();
    else this.conn.close().catch(() => undefined);
  }
}

class Counted<Rep> implements ReplyHandler<Rep> {
  constructor(
    private readonly inFlight: InFlight,
    private readonly next: ReplyHandler<Rep>,
  ) {}

  onReply(rep: Rep, at?: number): void {
    this.inFlight.leave();
    this.next.onReply(rep, at);
  }

  onError(err: unknown, at?: number): void {
    this.inFlight.leave();
    this.next.onError(err, at);
  }
}
