/**
 * Per-call values in ZeroRPC headers (zerorpc's middleware task context): a `ContextKey` with a
 * wire codec travels as a header key of its wire name, its value as bin. The client sends every
 * such key set for the call; a server decodes the keys it was given (`contextKeys`) and puts them
 * in the request context, so the calls its handler makes carry them on.
 */
import { ContextValues, createContextKey, type ContextKey } from '../../core/context-key.js';
import type { EventHeader } from './events.js';

/** A trace id carried in the header as `trace_id` (UTF-8 bin), propagated to nested calls. */
export const TraceId: ContextKey<string | undefined> = createContextKey<string | undefined>('zerorpc.trace_id', undefined, {
  name: 'trace_id',
  encode: (v) => Buffer.from(v ?? '', 'utf8'),
  decode: (b) => b.toString('utf8'),
});

const RESERVED = new Set(['message_id', 'v', 'response_to']);

/** The header entries of the values that have a wire codec, or undefined when none has. */
export function headerEntries(values: ContextValues | undefined): Record<string, unknown> | undefined {
  if (values === undefined) return undefined;
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of values.entries()) {
    const wire = key.wire;
    if (wire === undefined || RESERVED.has(wire.name)) continue;
    (out ??= {})[wire.name] = wire.encode(value);
  }
  return out;
}

/** Reads the known keys from a request header; a value that does not decode is left out (not the call). */
export function valuesFromHeader(header: EventHeader, keys: ReadonlyMap<string, ContextKey<unknown>>): ContextValues | undefined {
  if (keys.size === 0) return undefined;
  let values: ContextValues | undefined;
  for (const [name, key] of keys) {
    const raw = header[name];
    if (raw === undefined) continue;
    try {
      const bytes = raw instanceof Uint8Array ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength) : Buffer.from(String(raw), 'utf8');
      (values ??= new ContextValues()).set(key, key.wire!.decode(bytes));
    } catch {
      // a malformed context value is dropped, the call goes on
    }
  }
  return values;
}
