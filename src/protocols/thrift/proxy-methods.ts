import type { ProxyMethod } from '../../client/proxy.js';
import type { MethodDesc, ServiceDesc, TypeDesc } from './descriptors.js';
import type { ThriftCall } from './messages.js';

/**
 * `(a0, a1, ...) => ({ method, args: { p0: a0, p1: a1, ... } })`, compiled: an object literal of
 * a fixed shape, where a loop of keyed stores would build it one property at a time.
 */
function argsBuilder(method: MethodDesc, params: readonly string[]): (...args: unknown[]) => ThriftCall {
  const names = params.map((_, i) => `a${i}`).join(', ');
  const fields = params.map((p, i) => `${JSON.stringify(p)}: a${i}`).join(', ');
  return new Function('method', `return (${names}) => ({ method, args: { ${fields} } });`)(method) as (...args: unknown[]) => ThriftCall;
}

/** The client functions of a Thrift service (plain Thrift and ThriftMux). */
export function proxyMethods(service: ServiceDesc): ProxyMethod<ThriftCall>[] {
  return Object.values(service.methods).map((method) => {
    const params = method.params;
    const from = method.args.fields.findIndex((f) => f.requiredness === 'optional' || f.defaultValue !== undefined);
    const base = { name: method.name, arity: params.length, toCall: argsBuilder(method, params) };
    return from < 0 ? base : { ...base, optionalFrom: from, isOptions: (i: number, v: unknown) => isCallOptions(method.args.fields[i]!.type, v) };
  });
}

/**
 * Whether a trailing argument given in place of an omitted optional parameter is the call options:
 * a plain object, since no other Thrift value is one (maps are Map, sets Set, binary Buffer) —
 * except a struct. For a struct parameter it is the options only when it has keys and none of them
 * is a field of the struct; pass `undefined` for the parameter to leave no doubt.
 */
function isCallOptions(type: TypeDesc, v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  if (type.kind !== 'struct') return true;
  const keys = Object.keys(v);
  const fields = type.struct().fields;
  return keys.length > 0 && !keys.some((k) => fields.some((f) => f.name === k));
}
