import type { ScalesError } from '../core/errors.js';
import type { CallContext, ReplyHandler } from '../core/service.js';

/**
 * One place a call can occupy in a session (a tag's entry, a FIFO cell), reused call after call.
 * Its `cancel` closure is made once with the slot, not per call: a slot serves one call at a
 * time, and it is free again only once that call's answer was read (or the connection closed),
 * after its context let go of `cancel`.
 */
export class Slot<Req, Rep> {
  /** A call holds the slot (abandoned or not). */
  busy = false;
  /** The caller gave up; the slot stays held until the late answer is read and dropped. */
  abandoned = false;
  req: Req | undefined = undefined;
  ctx: CallContext | undefined = undefined;
  handler: ReplyHandler<Rep> | undefined = undefined;
  /** Registered with the call's context: abandons whichever call holds the slot. */
  cancel: (reason: ScalesError) => void = noop;

  constructor(readonly tag: number) {}

  fill(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    this.busy = true;
    this.req = req;
    this.ctx = ctx;
    this.handler = handler;
  }

  /** Empties the slot, dropping references so a finished call's request can be collected. */
  clear(): void {
    this.busy = false;
    this.abandoned = false;
    this.req = undefined;
    this.ctx = undefined;
    this.handler = undefined;
  }
}

function noop(): void {}
