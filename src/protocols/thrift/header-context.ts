/**
 * THeader info headers ↔ the call context, so a deadline and a trace id cross a plain-Thrift hop:
 *
 *   client_timeout   the call's time left, in whole ms (fbthrift's header name; at least 1, since
 *                    0 means none there); a server makes it the request's deadline (from the
 *                    moment the request arrived)
 *   <wire name>      a value whose ContextKey has a wire codec (`createContextKey(..., wire)`); a
 *                    server decodes the keys it was given (`contextKeys`)
 *   anything else    kept as strings under `ThriftHeaders`: the handler reads them
 *                    (`receivedValue(ctx, ThriftHeaders)`), and the THeader calls it makes send them on
 *
 * A client sets headers of its own with `withContextValue(ThriftHeaders, new Map([...]), fn)`.
 */
import { ContextValues, createContextKey, type ContextKey } from '../../core/context-key.js';
import { performance } from '../../core/clock.js';
import type { CallContext } from '../../core/service.js';

/** Info headers no key decoded (received) or to send (client): UTF-8 keys and values. */
export const ThriftHeaders: ContextKey<ReadonlyMap<string, string> | undefined> = createContextKey<ReadonlyMap<string, string> | undefined>('thrift.headers', undefined);

/** The header carrying a call's time left in ms (the name fbthrift uses). */
export const CLIENT_TIMEOUT_HEADER = 'client_timeout';
const CLIENT_TIMEOUT_KEY = Buffer.from(CLIENT_TIMEOUT_HEADER);

/** Context keys by wire name, for a server's decoder. */
export function keysByWireName(keys: readonly ContextKey<unknown>[] | undefined): Map<string, ContextKey<unknown>> {
  const m = new Map<string, ContextKey<unknown>>();
  for (const k of keys ?? []) if (k.wire !== undefined) m.set(k.wire.name, k);
  return m;
}

/** A request's deadline (`Date.now()` ms) and values from its info headers. */
export function fromHeaders(headers: ReadonlyMap<string, Buffer> | undefined, keys: ReadonlyMap<string, ContextKey<unknown>>): { deadline: number | undefined; values: ContextValues | undefined } {
  if (headers === undefined) return { deadline: undefined, values: undefined };
  let deadline: number | undefined;
  let values: ContextValues | undefined;
  let rest: Map<string, string> | undefined;
  for (const [name, raw] of headers) {
    if (name === CLIENT_TIMEOUT_HEADER) {
      // Whole ms; 0 means none (as fbthrift reads it); a malformed value is ignored, the call goes on.
      const text = raw.length <= 15 ? raw.toString('latin1') : '';
      if (/^[0-9]+$/.test(text) && Number(text) > 0) deadline = Date.now() + Number(text);
      continue;
    }
    const key = keys.get(name);
    if (key !== undefined) {
      try {
        (values ??= new ContextValues()).set(key, key.wire!.decode(Buffer.from(raw)));
      } catch {
        // a malformed value is dropped, not the call
      }
      continue;
    }
    (rest ??= new Map()).set(name, raw.toString('utf8'));
  }
  if (rest !== undefined) (values ??= new ContextValues()).set(ThriftHeaders, rest);
  return { deadline, values };
}

/** The info headers a client sends for the call in `ctx`, or undefined when there are none. */
export function headersForCall(ctx: CallContext): [Buffer, Buffer][] | undefined {
  let out: [Buffer, Buffer][] | undefined;
  const exp = ctx.expiresAt;
  if (exp !== undefined) {
    const left = Math.max(1, Math.ceil(exp - performance.now())); // 0 would read as "no timeout"
    (out ??= []).push([CLIENT_TIMEOUT_KEY, Buffer.from(String(left))]);
  }
  const values = ctx.values;
  if (values === undefined) return out;
  for (const [key, value] of values.entries()) {
    if (value === undefined) continue;
    if (key === ThriftHeaders) {
      for (const [k, v] of value as ReadonlyMap<string, string>) {
        if (k === CLIENT_TIMEOUT_HEADER) continue; // the call's own deadline wins
        (out ??= []).push([Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')]);
      }
      continue;
    }
    const wire = key.wire;
    if (wire === undefined) continue;
    (out ??= []).push([Buffer.from(wire.name, 'utf8'), wire.encode(value)]);
  }
  return out;
}
