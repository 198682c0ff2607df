/**
 * zerorpc's built-in methods, with Python's exact answer shapes, fed from the methods' metadata.
 * A Node server leaves Python's `self` out of argument lists (a client should accept either).
 */
import type { MethodInfo } from './methods.js';

/** An exception with the name the peer sees (`KeyError`, `ValueError`...): ERR [name, message, traceback]. */
export class NamedError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export type Builtin = (...args: unknown[]) => unknown;

export function introspection(name: string, infos: ReadonlyMap<string, MethodInfo>): Map<string, Builtin> {
  const info = (m: unknown): MethodInfo => {
    const i = typeof m === 'string' ? infos.get(m) : undefined;
    // Python: KeyError with the key's repr as its message.
    if (i === undefined) throw new NamedError('KeyError', `'${String(m)}'`);
    return i;
  };
  const inspectArgs = (i: MethodInfo): Record<string, unknown>[] => {
    const firstDefault = i.args.length - (i.defaults?.length ?? 0);
    return i.args.map((a, k) => (k >= firstDefault ? { name: a, default: i.defaults![k - firstDefault] } : { name: a }));
  };
  return new Map<string, Builtin>([
    ['_zerorpc_ping', () => ['pong', name]],
    ['_zerorpc_name', () => name],
    ['_zerorpc_list', () => [...infos.keys()]],
    ['_zerorpc_help', (m: unknown) => info(m).doc ?? null],
    [
      '_zerorpc_args',
      (m: unknown) => {
        const i = info(m);
        return [[...i.args], i.varargs ?? null, null, i.defaults === undefined ? null : [...i.defaults]];
      },
    ],
    [
      '_zerorpc_inspect',
      () => ({
        name,
        methods: Object.fromEntries([...infos].map(([m, i]) => [m, { args: inspectArgs(i), doc: i.doc ?? null }])),
      }),
    ],
  ]);
}
