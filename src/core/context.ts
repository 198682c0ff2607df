import { AsyncLocalStorage } from 'node:async_hooks';
import type { ContextValues } from './context-key.js';
import { InvalidArgumentError } from './errors.js';
import { CallContext } from './service.js';

/** What a caller may pass as the last argument of any proxied call. */
export interface CallOptions {
  /** Milliseconds from now. Combined with `deadline` and any inherited deadline: the earliest wins. */
  timeout?: number;
  /** Absolute deadline in `Date.now()` milliseconds. */
  deadline?: number;
  /** Aborting it fails the call at once with CancelledError. */
  signal?: AbortSignal;
}

/** The ambient context of the code running now: a server handler's request, or none. */
export interface AmbientContext {
  readonly deadline: number | undefined;
  readonly signal: AbortSignal | undefined;
  /** Typed per-call values of the request being served, if any. */
  readonly values?: ContextValues;
}

const ambient = new AsyncLocalStorage<AmbientContext>();

/** Runs `fn` with `ctx` as the ambient context, so calls made inside inherit its deadline. */
export function runWithContext<T>(ctx: AmbientContext, fn: () => T): T {
  return ambient.run(ctx, fn);
}

export function currentContext(): AmbientContext | undefined {
  return ambient.getStore();
}

function checkMs(name: string, v: number | undefined): void {
  if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v) || v < 0)) {
    throw new InvalidArgumentError(`${name} must be a non-negative number of milliseconds, got ${String(v)}`);
  }
}

/**
 * The call's effective deadline: the earliest of the per-call timeout/deadline, the client's
 * default timeout (when the call gives neither), and the deadline inherited from the ambient
 * (server request) context.
 */
export function newCallContext(method: string, options: CallOptions | undefined, defaultTimeout: number | undefined): CallContext {
  let timeout: number | undefined;
  let deadline: number | undefined;
  let signal: AbortSignal | undefined;
  if (options !== undefined) {
    checkMs('timeout', options.timeout);
    timeout = options.timeout;
    if (options.deadline !== undefined) {
      if (typeof options.deadline !== 'number' || Number.isNaN(options.deadline)) {
        throw new InvalidArgumentError(`deadline must be a Date.now() timestamp, got ${String(options.deadline)}`);
      }
      deadline = options.deadline;
    }
    signal = options.signal;
  }
  if (timeout === undefined && deadline === undefined) timeout = defaultTimeout;
  const inherited = ambient.getStore();
  if (inherited !== undefined) {
    if (inherited.deadline !== undefined) deadline = deadline === undefined ? inherited.deadline : Math.min(deadline, inherited.deadline);
    if (inherited.signal !== undefined) signal = signal === undefined ? inherited.signal : AbortSignal.any([signal, inherited.signal]);
  }
  return CallContext.expiring(method, timeout, deadline, signal);
}
