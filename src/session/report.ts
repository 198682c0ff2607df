import type { ReplyHandler } from '../core/service.js';

/**
 * A handler that throws is a bug above the session; it must not stop the session from reading
 * the next reply or failing its other calls. The error is thrown again outside, where it is seen.
 */
export function reportHandlerBug(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

export function deliverError<Rep>(handler: ReplyHandler<Rep>, err: unknown): void {
  try {
    handler.onError(err);
  } catch (bug) {
    reportHandlerBug(bug);
  }
}
