import { MAX_TIMER_MS } from '../core/clock.js';
import { ClosedError, InvalidArgumentError, OverloadedError, TimeoutError } from '../core/errors.js';
import { dispatchTo, settleInto } from '../core/dispatch.js';
import type { CallContext, ReplyHandler, Service, Status } from '../core/service.js';
import type { Backoff } from '../resilience/backoff.js';
import { ConnectGate, DEFAULT_CLOSE_GRACE_MS, defaultConnectBackoff, type Connector, type PooledConnection } from './types.js';

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

interface Waiter<Req, Rep> {
  readonly req: Req;
  readonly ctx: CallContext;
  readonly resolve: (rep: Rep) => void;
  readonly reject: (err: unknown) => void;
  /** Cancelled (or its deadline passed) while waiting: skipped when the connect lands. */
  gone: boolean;
  /** Fires at the call's deadline. */
  timer: NodeJS.Timeout | undefined;
}

/** How often close() looks at the session's load while in-flight calls finish. */
const DRAIN_POLL_MS = 5;

/**
 * One shared multiplexed session per node (Mux, pipelined Thrift): connected lazily on the first
 * call; every call goes straight to it (no per-call work in the pool); when it closes, the next
 * call reconnects. Calls arriving during a connect wait for that same connect (their deadline and
 * cancellation apply; the connector bounds the connect itself). Connect failures back off like
 * WatermarkPool: status 'busy', calls fail fast with ConnectError (unwritten) until the next try.
 */
export class SingletonPool<Req, Rep> implements Service<Req, Rep> {
  private session: PooledConnection<Req, Rep> | undefined = undefined;
  private connecting = false;
  private waiting: Waiter<Req, Rep>[] = [];
  private live = 0;
  private readonly maxWaiters: number;
  private readonly closeGrace: number;
  private readonly endpoint: string | undefined;
  private readonly gate: ConnectGate;
  private closed = false;
  private closing: Promise<void> | undefined = undefined;

  constructor(
    private readonly connect: Connector<Req, Rep>,
    options: SingletonPoolOptions = {},
  ) {
    const maxWaiters = options.maxWaiters ?? 1000;
    // Every call waits for the first connect, so 0 would make a cold pool unusable.
    if (!(Number.isInteger(maxWaiters) && maxWaiters >= 1)) throw new InvalidArgumentError(`maxWaiters must be an integer >= 1 (calls wait for the connect), got ${String(maxWaiters)}`);
    const grace = options.closeGrace ?? DEFAULT_CLOSE_GRACE_MS;
    if (!(grace >= 0)) throw new InvalidArgumentError(`closeGrace must be a number of ms >= 0, got ${String(grace)}`);
    this.maxWaiters = maxWaiters;
    this.closeGrace = grace;
    this.endpoint = options.endpoint;
    this.gate = new ConnectGate(options.backoff ?? defaultConnectBackoff(), this.endpoint);
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

  /** Calls waiting for the connect in progress. */
  get waiters(): number {
    return this.live;
  }

  /** True while a session is open. */
  get connected(): boolean {
    return this.session !== undefined && this.session.status !== 'closed';
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    const s = this.session;
    if (s !== undefined && s.status !== 'closed') return s.call(req, ctx);
    return this.callSlow(req, ctx);
  }

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    const s = this.session;
    if (s !== undefined && s.status !== 'closed') return s.dispatch !== undefined ? s.dispatch(req, ctx, handler) : dispatchTo(s, req, ctx, handler);
    settleInto(this.callSlow(req, ctx), handler);
  }

  /**
   * Stops taking calls, fails waiters (ClosedError, unwritten), lets in-flight calls finish for up
   * to `graceMs`, then closes the session: gracefully when it is idle, else at once (`abort`, when
   * the session has it), which fails the calls still running instead of waiting for them.
   */
  close(graceMs: number = this.closeGrace): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    this.failWaiters(this.closedError());
    const s = this.session;
    this.session = undefined;
    this.closing = (async () => {
      if (s === undefined) return;
      const until = Date.now() + graceMs;
      while (s.status !== 'closed' && s.load > 0 && Date.now() < until) await sleep(DRAIN_POLL_MS);
      if (s.status !== 'closed' && s.load > 0 && s.abort !== undefined) s.abort();
      else await s.close().catch(() => undefined);
    })();
    return this.closing;
  }

  private callSlow(req: Req, ctx: CallContext): Promise<Rep> {
    if (this.closed) return Promise.reject(this.closedError());
    if (ctx.cancelled !== undefined) return Promise.reject(ctx.cancelled);
    this.session = undefined; // closed: reconnect
    if (!this.connecting && this.gate.backingOff) return Promise.reject(this.gate.fastFail());
    if (this.live >= this.maxWaiters) {
      return Promise.reject(new OverloadedError(`${this.live} calls already wait for the connection${this.where()} (maxWaiters ${this.maxWaiters})`, { endpoint: this.endpoint }));
    }
    return new Promise<Rep>((resolve, reject) => {
      const w: Waiter<Req, Rep> = { req, ctx, resolve, reject, gone: false, timer: undefined };
      this.waiting.push(w);
      this.live++;
      // The deadline applies while waiting too (a connect may take up to its connect timeout).
      const remaining = ctx.remaining();
      if (remaining < MAX_TIMER_MS) w.timer = setTimeout(() => this.waitExpired(w), remaining > 0 ? remaining : 0);
      ctx.onCancel((reason) => {
        if (w.timer !== undefined) clearTimeout(w.timer);
        w.gone = true;
        this.live--;
        reject(reason);
      });
      if (!this.connecting) this.startConnect();
    });
  }

  private startConnect(): void {
    this.connecting = true;
    this.connect().then(
      (s) => {
        this.connecting = false;
        this.gate.succeeded();
        if (this.closed) {
          s.close().catch(() => undefined);
          return;
        }
        this.session = s;
        const waiting = this.takeWaiters();
        for (const w of waiting) w.ctx.onCancel(undefined);
        for (const w of waiting) s.call(w.req, w.ctx).then(w.resolve, w.reject);
      },
      (err: unknown) => {
        this.connecting = false;
        this.failWaiters(this.gate.failed(err));
      },
    );
  }

  private waitExpired(w: Waiter<Req, Rep>): void {
    w.timer = undefined;
    if (w.gone) return;
    w.gone = true;
    this.live--;
    w.ctx.onCancel(undefined);
    const err = new TimeoutError(`${w.ctx.method}: deadline passed while waiting for the connection${this.where()}`, { endpoint: this.endpoint, unwritten: true });
    w.ctx.cancel(err);
    w.reject(err);
  }

  private takeWaiters(): Waiter<Req, Rep>[] {
    for (const w of this.waiting) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.timer = undefined;
    }
    const waiting = this.waiting.filter((w) => !w.gone);
    this.waiting = [];
    this.live = 0;
    return waiting;
  }

  private failWaiters(err: unknown): void {
    for (const w of this.takeWaiters()) {
      w.ctx.onCancel(undefined);
      w.reject(err);
    }
  }

  private closedError(): ClosedError {
    return new ClosedError(`connection${this.where()} is closed`, { endpoint: this.endpoint, unwritten: true });
  }

  private where(): string {
    return this.endpoint === undefined ? '' : ` to ${this.endpoint}`;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
