import { OverloadedError, type ScalesError } from '../core/errors.js';
import type { CallContext, ReplyHandler } from '../core/service.js';

/** How long, and how many, calls wait for a discovered set's first answer. */
export interface FirstResolutionOptions {
  /** Longest wait for the first answer before calls fail with NoNodesError (default 10,000 ms). */
  waitMs?: number;
  /** Calls held at most; more are refused with an OverloadedError (default 10,000). */
  maxHeld?: number;
}

export const FIRST_RESOLUTION_DEFAULTS: Required<FirstResolutionOptions> = { waitMs: 10_000, maxHeld: 10_000 };

interface Held<Req, Rep> {
  readonly req: Req;
  readonly ctx: CallContext;
  readonly handler: ReplyHandler<Rep>;
}

/**
 * Holds the calls that arrive before a discovered set (`zk://`, `dns://`) has answered for the
 * first time, instead of failing them with "no node": a client made from such a destination
 * starts with an empty set, and its first calls would otherwise fail for no fault of the caller.
 * Each held call still leaves at its own deadline or abort (through the context's cancel slot);
 * the gate opens on the set's first answer, its first non-empty update, or after `waitMs`.
 */
export class FirstResolutionGate<Req, Rep> {
  private held = new Set<Held<Req, Rep>>();
  private open = false;
  /** Why the set has no node yet, when the gate opened without an answer. */
  reason: string | undefined = undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly maxHeld: number;

  constructor(
    ready: Promise<void>,
    private readonly label: string,
    private readonly release: (req: Req, ctx: CallContext, handler: ReplyHandler<Rep>) => void,
    options: FirstResolutionOptions = {},
  ) {
    const waitMs = options.waitMs ?? FIRST_RESOLUTION_DEFAULTS.waitMs;
    this.maxHeld = options.maxHeld ?? FIRST_RESOLUTION_DEFAULTS.maxHeld;
    this.timer = setTimeout(() => this.openGate(`${label} gave no first answer within ${waitMs} ms`), waitMs);
    this.timer.unref(); // an idle client waiting for discovery must not keep the process alive; a held call does
    ready.then(
      () => this.openGate(undefined),
      (err: unknown) => this.openGate(`${label} failed before its first answer: ${err instanceof Error ? err.message : String(err)}`),
    );
  }

  /** True while calls are held (the set has not answered yet). */
  get waiting(): boolean {
    return !this.open;
  }

  /** Number of calls waiting now (stats, tests). */
  get size(): number {
    return this.held.size;
  }

  /** Holds one call until the gate opens, or refuses it (gate full / already cancelled). */
  hold(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    if (ctx.cancelled !== undefined) return handler.onError(ctx.cancelled);
    if (this.held.size >= this.maxHeld) {
      return handler.onError(new OverloadedError(`${this.label}: ${this.maxHeld} calls already wait for the first discovery answer`));
    }
    const entry: Held<Req, Rep> = { req, ctx, handler };
    this.held.add(entry);
    this.timer.ref();
    ctx.onCancel((reason: ScalesError) => {
      if (!this.held.delete(entry)) return;
      if (this.held.size === 0) this.timer.unref();
      handler.onError(reason);
    });
  }

  /**
   * Opens the gate: held calls go back to the balancer in arrival order (they find the nodes now
   * present, or "no node"). `why` (no answer in time, the set failed) is kept as `reason` for the
   * balancer's "no node" errors until the set answers after all. Idempotent.
   */
  openGate(why: string | undefined): void {
    if (this.open) {
      if (why === undefined) this.reason = undefined; // a late answer: the set speaks for itself now
      return;
    }
    this.open = true;
    this.reason = why;
    clearTimeout(this.timer);
    const held = this.held;
    this.held = new Set();
    for (const { req, ctx, handler } of held) {
      ctx.onCancel(undefined);
      this.release(req, ctx, handler);
    }
  }

  /** Fails every held call (the balancer closed). */
  fail(err: () => Error): void {
    this.open = true;
    clearTimeout(this.timer);
    const held = this.held;
    this.held = new Set();
    for (const { ctx, handler } of held) {
      ctx.onCancel(undefined);
      handler.onError(err());
    }
  }
}
