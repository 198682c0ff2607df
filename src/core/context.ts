import { AsyncLocalStorage } from 'node:async_hooks';
import type { CancelSource } from './abort-watch.js';
import { ContextValues, type ContextKey } from './context-key.js';
import { describeValue, InvalidArgumentError } from './errors.js';
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
  /** Calls made inside are cancelled when it aborts (unless `cancellation` is given: then that). */
  readonly signal: AbortSignal | undefined;
  /**
   * Calls made inside are cancelled with it; a server's request context offers itself here, so
   * nested calls follow it without making its AbortSignal (~25 µs a request).
   */
  readonly cancellation?: CancelSource | undefined;
  /**
   * Typed values of the request being served (a server puts what its protocol received here:
   * inbound) or set by `withContextValue`: copied into every call made inside, where a protocol
   * that carries contexts sends the keys that have a wire codec (outbound).
   */
  readonly values?: ContextValues | undefined;
}

const ambient = new AsyncLocalStorage<AmbientContext>();

/** Runs `fn` with `ctx` as the ambient context, so calls made inside inherit its deadline. */
export function runWithContext<T>(ctx: AmbientContext, fn: () => T): T {
  return ambient.run(ctx, fn);
}

export function currentContext(): AmbientContext | undefined {
  return ambient.getStore();
}

/**
 * Runs `fn` with `key` set to `value` for every call made inside it (and the calls those make on
 * the server, when the key has a wire codec and the protocol carries contexts) — Finagle's
 * `Contexts.broadcast.let`. The deadline and signal in effect stay as they are.
 */
export function withContextValue<T, R>(key: ContextKey<T>, value: T, fn: () => R): R {
  const outer = ambient.getStore();
  const values = new ContextValues();
  outer?.values?.copyTo(values);
  values.set(key, value);
  // The outer request's cancellation passes on as it is: reading `signal` would make one.
  const cancellation = outer?.cancellation;
  return ambient.run({ deadline: outer?.deadline, signal: cancellation === undefined ? outer?.signal : undefined, cancellation, values }, fn);
}

/** The type of a bad option value, for messages: `string "x"`, `object`, `null`. */
function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return `an object (${Object.prototype.toString.call(v).slice(8, -1)})`;
  return typeof v;
}

/**
 * The one rule for timeouts, per call and per client alike: a number of milliseconds > 0
 * (`Infinity`: none). 0 and negative numbers are refused, not taken as "already expired": a
 * caller that computed its budget and found none left should fail on its own terms.
 */
export function checkTimeoutMs(name: string, v: unknown): void {
  if (v !== undefined && !(typeof v === 'number' && v > 0)) {
    throw new InvalidArgumentError(`${name} must be a positive number of milliseconds, got ${describeValue(v)}`);
  }
}

/**
 * The call's effective deadline. Precedence: a per-call `timeout` or `deadline` replaces the
 * client's default timeout (longer or shorter: a slow method may get more time than the
 * default); given both, the earlier wins; a deadline inherited from the request being served
 * caps all of them.
 */
export function newCallContext(method: string, options: CallOptions | undefined, defaultTimeout: number | undefined): CallContext {
  let timeout: number | undefined;
  let deadline: number | undefined;
  let signal: AbortSignal | undefined;
  if (options !== undefined) {
    checkTimeoutMs('timeout', options.timeout);
    timeout = options.timeout;
    if (options.deadline !== undefined) {
      if (typeof options.deadline !== 'number' || Number.isNaN(options.deadline)) {
        throw new InvalidArgumentError(`deadline must be a Date.now() timestamp, got ${describeValue(options.deadline)}`);
      }
      deadline = options.deadline;
    }
    signal = options.signal;
    // Checked here, before the call enters the stack: a bad signal is the caller's error, and
    // failing inside a role would leave that role's bookkeeping (in_flight) half done.
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new InvalidArgumentError(`signal must be an AbortSignal, got ${describeType(signal)}`);
    }
  }
  if (timeout === undefined && deadline === undefined) timeout = defaultTimeout;
  const inherited = ambient.getStore();
  if (inherited === undefined) return CallContext.expiring(method, timeout, deadline, signal);
  if (inherited.deadline !== undefined) deadline = deadline === undefined ? inherited.deadline : Math.min(deadline, inherited.deadline);
  const parent = inherited.cancellation;
  if (parent === undefined && inherited.signal !== undefined) signal = signal === undefined ? inherited.signal : AbortSignal.any([signal, inherited.signal]);
  const ctx = CallContext.expiring(method, timeout, deadline, signal);
  ctx.parent = parent;
  const values = inherited.values;
  if (values !== undefined) ctx.inherit(values);
  return ctx;
}
