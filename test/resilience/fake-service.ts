import type { ScalesError } from '../../src/core/errors.js';
import type { CallContext, Service, Status } from '../../src/core/service.js';
import { sleep } from '../harness/wait.js';
export { sleep };

/** What one attempt does: answer or fail, now or after `after` ms. */
export interface Step<Rep> {
  reply?: Rep;
  error?: unknown;
  after?: number;
}

export interface Attempt<Req> {
  req: Req;
  ctx: CallContext;
  at: number;
  settled: boolean;
  cancelledWith: ScalesError | undefined;
}

/**
 * A node that follows a script per attempt and keeps the cancellation contract the way the Thrift
 * session does: it refuses an already-cancelled context, holds the context's slot while the
 * attempt is pending (a cancel rejects it with the reason), and lets go when it settles.
 */
export class ScriptedService<Req, Rep> implements Service<Req, Rep> {
  readonly attempts: Attempt<Req>[] = [];
  status: Status = 'open';
  closed = false;

  constructor(private readonly script: (n: number, req: Req, ctx: CallContext) => Step<Rep>) {}

  call(req: Req, ctx: CallContext): Promise<Rep> {
    if (ctx.cancelled !== undefined) return Promise.reject(ctx.cancelled);
    const attempt: Attempt<Req> = { req, ctx, at: Date.now(), settled: false, cancelledWith: undefined };
    this.attempts.push(attempt);
    const step = this.script(this.attempts.length, req, ctx);
    return new Promise<Rep>((resolve, reject) => {
      const finish = (): void => {
        if (attempt.settled) return;
        attempt.settled = true;
        ctx.onCancel(undefined);
        if ('error' in step) reject(step.error);
        else resolve(step.reply as Rep);
      };
      // Immediate steps settle on a microtask: timers would make bulk tests slow.
      const timer = step.after === undefined ? undefined : setTimeout(finish, step.after);
      if (timer === undefined) queueMicrotask(finish);
      ctx.onCancel((reason) => {
        if (attempt.settled) return;
        clearTimeout(timer);
        attempt.settled = true;
        attempt.cancelledWith = reason;
        reject(reason);
      });
    });
  }

  close(): Promise<void> {
    this.closed = true;
    this.status = 'closed';
    return Promise.resolve();
  }
}

/** Settles a promise into a value or an error, so tests can assert on either. */
export function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** A manual clock for pure-logic tests. */
export class FakeClock {
  t = 1_000_000;
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}
