import { type AbortWatcher, type CancelSource, WatcherSet } from '../core/abort-watch.js';
import { wallOffset } from '../core/clock.js';
import type { AmbientContext } from '../core/context.js';
import { CarriesValues } from '../core/context-key.js';
import type { ScalesError } from '../core/errors.js';
import type { ServerCallContext } from '../core/server-context.js';
import type { ReplyHandler } from '../core/service.js';
import type { ServerRequest } from './codec.js';

/** What a request context needs from the session that read it. */
export interface RequestOwner<Req extends ServerRequest> {
  readonly peer: string;
  /** The session's transport is gone (a signal made now starts aborted). */
  readonly closed: boolean;
  /** Abort `ctx` when the caller disconnects or the server stops (only contexts whose signal was made). */
  watch(ctx: ServerRequestContext<Req>): void;
  /** The outcome, once: write it (the end of the server stack's handler chain). */
  settle(ctx: ServerRequestContext<Req>, ok: boolean, outcome: unknown): void;
}

/** Told of a request's outcome as the context receives it (the stats role, when it is the top of the stack). */
export interface OutcomeObserver {
  observe(start: number, ok: boolean, outcome: unknown): void;
}

/**
 * One request being served: what the handler sees as its last argument (`ServerCallContext`),
 * the ambient context its nested client calls inherit, typed per-call values, and the handler at
 * the end of the server stack's chain (its `onReply`/`onError` write the answer), so a request
 * costs one object here.
 *
 * The AbortSignal is made only when the handler reads `signal` (an AbortController with a used
 * signal costs Node ~7 µs and ~0.9 KB); the deadline role aborts through `abort(reason)` without
 * making one when nobody has looked. Nested client calls follow the request as a CancelSource
 * (watchers told on abort), not through the signal: that cost ~25 µs a request.
 */
export class ServerRequestContext<Req extends ServerRequest = ServerRequest> extends CarriesValues implements ServerCallContext, AmbientContext, CancelSource, ReplyHandler<unknown> {
  readonly method: string;
  /** `performance.now()` when the request was read. */
  readonly start: number;
  /** Set once the answer is decided (written, or dropped for oneway): later outcomes are ignored. */
  settled = false;
  private exp: number | undefined;
  private controller: AbortController | undefined = undefined;
  private reason: ScalesError | undefined = undefined;
  /** A role right above the context that watches outcomes here instead of wrapping it in a handler of its own per request. */
  observer: OutcomeObserver | undefined = undefined;
  /** Nested calls following this request (CancelSource). */
  private watchers: WatcherSet | undefined = undefined;
  /** The session aborts this request on disconnect or shutdown (asked once, when first needed). */
  private ownerWatching = false;

  constructor(
    private readonly owner: RequestOwner<Req>,
    readonly request: Req,
    start: number,
  ) {
    super();
    this.method = request.method;
    this.start = start;
    this.vals = request.values;
    const d = request.deadline;
    this.exp = d === undefined || d === Infinity ? undefined : d - wallOffset();
  }

  /** `performance.now()` by which the request must be answered, or undefined. */
  get expiresAt(): number | undefined {
    return this.exp;
  }

  /** The deadline as a `Date.now()` time, or undefined. */
  get deadline(): number | undefined {
    return this.exp === undefined ? undefined : this.exp + wallOffset();
  }

  /** Moves the deadline earlier (never later). */
  tighten(expiresAt: number): void {
    if (this.exp === undefined || expiresAt < this.exp) this.exp = expiresAt;
  }

  get peer(): string {
    return this.owner.peer;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.reason !== undefined) this.controller.abort(this.reason);
      else this.askOwner();
    }
    return this.controller.signal;
  }

  /** The ambient context's cancellation for calls the handler makes: this request. */
  get cancellation(): CancelSource {
    return this;
  }

  get cancelReason(): unknown {
    return this.reason;
  }

  watchCancel(w: AbortWatcher): void {
    if (this.reason === undefined) this.askOwner(); // may abort at once: the caller is gone already
    if (this.reason !== undefined) return w.aborted(this.reason);
    (this.watchers ??= new WatcherSet()).add(w);
  }

  unwatchCancel(w: AbortWatcher): void {
    this.watchers?.delete(w);
  }

  private askOwner(): void {
    if (this.ownerWatching || this.settled) return;
    this.ownerWatching = true;
    this.owner.watch(this);
  }

  /** Aborted already (deadline, disconnect, shutdown): the reason, else undefined. */
  get aborted(): ScalesError | undefined {
    return this.reason;
  }

  /** Aborts the request's signal (made or not yet); the first reason wins. */
  abort(reason: ScalesError): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.controller?.abort(reason);
    this.watchers?.tellAll(reason);
  }

  /** @internal the top of the server stack hands the outcome here */
  onReply(value: unknown): void {
    // Once: a second outcome (the session ignores it too) must not count the request twice.
    if (!this.settled) this.observer?.observe(this.start, true, value);
    this.owner.settle(this, true, value);
  }

  /** @internal */
  onError(err: unknown): void {
    if (!this.settled) this.observer?.observe(this.start, false, err);
    this.owner.settle(this, false, err);
  }
}
