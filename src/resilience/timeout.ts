import { CancelledError, TimeoutError, type ScalesError } from '../core/errors.js';
import type { CallContext, Service, Status } from '../core/service.js';
import { layer, type StackLayer } from '../core/stack.js';

/**
 * Enforces the call's deadline and the caller's AbortSignal: when either fires, the layer that
 * holds the call is told to abandon it (see CallContext), so the caller is freed at once and the
 * connection below decides what to do with the late reply.
 */
class TimeoutService<Req, Rep> implements Service<Req, Rep> {
  constructor(private readonly below: Service<Req, Rep>) {}

  get status(): Status {
    return this.below.status;
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    const deadline = ctx.deadline;
    const signal = ctx.signal;
    if (deadline === undefined && signal === undefined) return this.below.call(req, ctx);
    if (signal?.aborted) return Promise.reject(new CancelledError(`${ctx.method} cancelled before it was sent`, { cause: signal.reason }));
    const remaining = deadline === undefined ? Infinity : deadline - Date.now();
    if (remaining <= 0) return Promise.reject(new TimeoutError(`${ctx.method}: deadline passed before the call was sent`));
    // Our own promise settles at the deadline even if a layer below ignores cancellation:
    // nothing waits forever.
    return new Promise<Rep>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const settle = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort);
      };
      const fail = (err: ScalesError): void => {
        settle();
        ctx.cancel(err);
        reject(ctx.cancelled ?? err);
      };
      if (remaining !== Infinity) timer = setTimeout(() => fail(new TimeoutError(`${ctx.method} timed out after ${Math.round(remaining)} ms`)), remaining);
      if (signal !== undefined) {
        onAbort = () => fail(new CancelledError(`${ctx.method} cancelled`, { cause: signal.reason }));
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.below.call(req, ctx).then(
        (rep) => {
          settle();
          resolve(rep);
        },
        (err: unknown) => {
          settle();
          reject(err);
        },
      );
    });
  }

  close(): Promise<void> {
    return this.below.close();
  }
}

export function timeoutLayer(): StackLayer {
  return layer('timeout', 'enforces the call deadline and AbortSignal; frees the caller at once', (below: Service<unknown, unknown>) => new TimeoutService(below));
}
