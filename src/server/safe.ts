/**
 * Touching a value a handler threw or returned can itself throw: `String(x)` of a null-prototype
 * object or of one whose `toString` is not a function, a `message` getter that throws, a Proxy
 * whose traps throw, a revoked Proxy (even `instanceof` and `typeof x.then` run user code). The
 * server touches such values only through these helpers, which never throw: one odd value must
 * cost one INTERNAL_ERROR reply, never the connection or the process.
 */

/** Longest text taken from a user value (an error message in a reply, a log line). */
export const MAX_DESCRIBED = 1024;

const UNPRINTABLE = '<unprintable value>';

/** A short text for any value: its `message` when it is a string, else `String(value)`. Never throws. */
export function describeError(value: unknown, max: number = MAX_DESCRIBED): string {
  let text: string;
  try {
    text = describe(value);
  } catch {
    text = UNPRINTABLE;
  }
  return truncate(text, max);
}

function describe(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return String(value);
    case 'symbol':
      return `Symbol(${value.description ?? ''})`;
    default:
      break;
  }
  if (value === null) return 'null';
  let message: unknown;
  try {
    message = (value as { message?: unknown }).message;
  } catch {
    message = undefined;
  }
  if (typeof message === 'string') return message;
  try {
    const s: unknown = String(value);
    if (typeof s === 'string') return s;
  } catch {
    // no usable toString: fall through
  }
  try {
    return Object.prototype.toString.call(value);
  } catch {
    return UNPRINTABLE;
  }
}

/** `s` cut to `max` UTF-16 units, marked when cut (never leaves half a surrogate pair). */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${s.slice(0, end)}… (${s.length} chars)`;
}

/** `value instanceof ctor`, false when asking throws (a Proxy's getPrototypeOf trap). */
export function isInstance<T>(value: unknown, ctor: abstract new (...args: never[]) => T): value is T {
  if (typeof value !== 'object' || value === null) return false;
  try {
    return value instanceof ctor;
  } catch {
    return false;
  }
}

/**
 * The `then` function of a thenable, or undefined for a plain value. Throws what reading `then`
 * threw (the caller turns that into the call's failure).
 */
export function thenOf(value: unknown): ((onOk: (v: unknown) => void, onErr: (e: unknown) => void) => unknown) | undefined {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return undefined;
  const then = (value as { then?: unknown }).then;
  return typeof then === 'function' ? (then as (onOk: (v: unknown) => void, onErr: (e: unknown) => void) => unknown) : undefined;
}

/** An `onError(err, where)` hook. */
export type ErrorHook = (err: unknown, where: string) => void;

/** Calls `hook`; whatever it throws is dropped (a logging hook must not take the server down). */
export function report(hook: ErrorHook | undefined, err: unknown, where: string): void {
  if (hook === undefined) return;
  try {
    hook(err, where);
  } catch {
    // The hook itself failed: nothing left to tell.
  }
}
