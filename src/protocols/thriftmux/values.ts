import type { ContextKey } from '../../core/context-key.js';
import type { ServerCallContext } from '../../core/server-context.js';

/**
 * The value of `key` that came with the request a handler serves (`MuxTrace`, `MuxRetries`,
 * `MuxClientId`, a server's `contextKeys`), or the key's default. The request context carries
 * typed values, but `ServerCallContext` does not declare `get` yet; this reads it without a cast
 * in user code.
 */
export function receivedValue<T>(ctx: ServerCallContext, key: ContextKey<T>): T {
  const c = ctx as ServerCallContext & { get?: (k: ContextKey<T>) => T };
  return typeof c.get === 'function' ? c.get(key) : key.defaultValue;
}
