import { performance, TIME_ORIGIN, wallOffset } from './clock.js';
import type { CancelSource } from './abort-watch.js';
import { CarriesValues, ContextValues } from './context-key.js';
import type { ScalesError } from './errors.js';

/** `busy`: usable but saturated; `closed`: will never accept another call. */
export type Status = 'open' | 'busy' | 'closed';

/**
 * Per-call state that travels down the client stack. One allocation per call; the layers share it.
 *
 * Cancellation is a single slot rather than an AbortController per call (those cost about a
 * microsecond each): whichever layer currently holds the call registers how to abandon it
 * (a pool waiter, a pending seqid...), and `cancel()` invokes that. A cancel that arrives while no
 * one holds the call is remembered in `cancelled`, and the next layer checks it before going on.
 */
export class CallContext extends CarriesValues {
  readonly method: string;
  /**
   * `performance.now()` by which the call must be done, or undefined for none. Deadlines are kept
   * on the monotonic clock: a step of the wall clock (NTP, a VM resumed) moves no timer, and a
   * timeout becomes a deadline without a `Date.now()` read (~45 ns here).
   */
  private exp: number | undefined;
  /** The caller's own signal (already bridged into `cancel` by the timeout layer). */
  readonly signal: AbortSignal | undefined;
  /**
   * The request being served when the call was made (newCallContext sets it): the call is
   * cancelled with it, as with `signal`, but without an AbortSignal (see core/abort-watch.ts).
   */
  parent: CancelSource | undefined = undefined;
  /** Set once the call was cancelled (timeout or abort); the reason it failed with. */
  cancelled: ScalesError | undefined = undefined;
  /** The node the latest attempt went to (set by the pool that took it): the `endpoint` of a timeout. */
  endpoint: string | undefined = undefined;
  private abandon: ((reason: ScalesError) => void) | undefined = undefined;

  /**
   * `performance.now()` when the call began. Layers time the call from it rather than each
   * reading the clock again: on this kind of machine a clock read costs ~45 ns, and a stack that
   * read it in every layer spent more on clocks than on anything else.
   */
  readonly start: number;
  /** `deadline` is absolute, in `Date.now()` milliseconds (see `expiring` for a relative timeout). */
  constructor(method: string, deadline: number | undefined, signal: AbortSignal | undefined) {
    super();
    this.method = method;
    this.signal = signal;
    this.start = performance.now();
    // An infinite deadline is none: nothing below has to tell Infinity from a time.
    this.exp = deadline === undefined || deadline === Infinity ? undefined : deadline - wallOffset();
  }

  /**
   * A context that expires `timeoutMs` after it is made (undefined: no timeout), or at the
   * absolute `deadline` (`Date.now()` ms) if that comes first. A `deadline` is converted with the
   * run's wall-clock offset (`wallOffset`): no clock read of its own.
   */
  static expiring(method: string, timeoutMs: number | undefined, deadline: number | undefined, signal: AbortSignal | undefined): CallContext {
    const ctx = new CallContext(method, deadline, signal);
    if (timeoutMs !== undefined && timeoutMs !== Infinity) {
      const exp = ctx.start + timeoutMs;
      if (ctx.exp === undefined || exp < ctx.exp) ctx.exp = exp;
    }
    return ctx;
  }

  /** A context for another attempt of the same call (a hedged backup): same method, deadline, signal and values; its own cancellation. */
  child(): CallContext {
    const c = new CallContext(this.method, undefined, this.signal);
    c.exp = this.exp;
    c.parent = this.parent;
    if (this.vals !== undefined) this.vals.copyTo((c.vals = new ContextValues()));
    return c;
  }

  /** `performance.now()` by which the call must be done (see `exp`), or undefined. */
  get expiresAt(): number | undefined {
    return this.exp;
  }

  /** The deadline as a `Date.now()` timestamp (from `expiresAt` and the wall clock's offset), or undefined. */
  get deadline(): number | undefined {
    return this.exp === undefined ? undefined : this.exp + wallOffset();
  }

  /** `start` as a `Date.now()`-style timestamp (ms since the epoch). */
  get startEpoch(): number {
    return TIME_ORIGIN + this.start;
  }

  /** Milliseconds left before the deadline (Infinity when there is none). */
  remaining(): number {
    return this.exp === undefined ? Infinity : this.exp - performance.now();
  }

  /** The layer holding the call says how to abandon it; `undefined` when it lets go. */
  onCancel(abandon: ((reason: ScalesError) => void) | undefined): void {
    this.abandon = abandon;
  }

  cancel(reason: ScalesError): void {
    if (this.cancelled !== undefined) return;
    this.cancelled = reason;
    const abandon = this.abandon;
    this.abandon = undefined;
    if (abandon !== undefined) abandon(reason);
  }
}

/**
 * Receives the outcome of one call: exactly one of the two methods, exactly once, possibly
 * before `dispatch` returns. Handlers must not throw.
 *
 * `at` is the `performance.now()` time the outcome became known, when the layer handing it on
 * knows it without reading the clock (a transport: the socket read that carried the reply; the
 * balancer: the end of the attempt). Layers above reuse it instead of reading the clock again
 * (a read costs ~45 ns here); undefined or 0 means "not known, read the clock".
 */
export interface ReplyHandler<Rep> {
  onReply(reply: Rep, at?: number): void;
  onError(err: unknown, at?: number): void;
}

/**
 * One request in, one reply (or a typed error) out: every role of a client stack, every filter
 * of a server stack, a session, a pool. `Ctx` is the per-call context: `CallContext` on clients,
 * the server's request context on servers.
 */
export interface Service<Req, Rep, Ctx = CallContext> {
  call(request: Req, ctx: Ctx): Promise<Rep>;
  /**
   * The same call with its outcome handed to `handler` instead of a promise. Optional; the
   * stack's own layers offer it so that a call crosses the stack with one promise (the caller's)
   * rather than one per layer: a promise and its reaction cost more than the work most layers
   * do per call. Reach one through `dispatcherOf` (core/dispatch.ts), which falls back to `call`.
   */
  dispatch?(request: Req, ctx: Ctx, handler: ReplyHandler<Rep>): void;
  readonly status: Status;
  /** Stop accepting calls; resolve once in-flight calls are done or failed. */
  close(): Promise<void>;
}

/** Makes a new service on demand (a connection, a per-node stack). */
export interface ServiceFactory<Req, Rep> {
  (signal?: AbortSignal): Promise<Service<Req, Rep>>;
}
