// A service whose handlers fail with values that resist being turned into text (issue 9 item 1),
// shared by the peer process (test/peers/scales_odd_server.ts) and the tests:
//   service Odd {
//     string fail(1: string kind, 2: string how)
//     oneway void fire(1: string kind, 2: string how)
//     i32 fired()                      // oneway calls whose handler ran so far
//     string echo(1: string s)
//   }
import { T, ThriftException, type MethodDesc, type ServiceDesc } from '../../src/protocols/thrift/index.js';
import type { CallOptions } from '../../src/protocols/thrift/index.js';

export interface OddClient {
  fail(kind: string, how: string, options?: CallOptions): Promise<string>;
  fire(kind: string, how: string, options?: CallOptions): Promise<void>;
  fired(options?: CallOptions): Promise<number>;
  echo(s: string, options?: CallOptions): Promise<string>;
}

/** Loosely typed: every method may fail with anything. */
export type OddHandler = Record<'fail' | 'fire' | 'fired' | 'echo', (...args: never[]) => unknown>;

export function method(name: string, oneway: boolean, params: [string, number, typeof T.string][], success: typeof T.string | typeof T.i32 | undefined): MethodDesc {
  return {
    name,
    oneway,
    params: params.map(([p]) => p),
    args: { name: `${name}_args`, kind: 'struct', fields: params.map(([p, id, type]) => ({ id, name: p, type, requiredness: 'default' as const })) },
    result: { name: `${name}_result`, kind: 'struct', fields: success === undefined ? [] : [{ id: 0, name: 'success', type: success, requiredness: 'optional' as const }] },
  };
}

export const OddService: ServiceDesc<OddClient, OddHandler> = {
  name: 'Odd',
  methods: {
    fail: method(
      'fail',
      false,
      [
        ['kind', 1, T.string],
        ['how', 2, T.string],
      ],
      T.string,
    ),
    fire: method(
      'fire',
      true,
      [
        ['kind', 1, T.string],
        ['how', 2, T.string],
      ],
      undefined,
    ),
    fired: method('fired', false, [], T.i32),
    echo: method('echo', false, [['s', 1, T.string]], T.string),
  },
};

const throwing = (): never => {
  throw new Error('trap');
};

/** Values that break `String(x)`, `x.message`, `x instanceof C` or all of them. */
export const ODD_VALUES: Record<string, () => unknown> = {
  'json-tostring': () => JSON.parse('{"error":"no","toString":"x"}'),
  'null-proto': () => Object.create(null),
  'message-getter': () => ({
    get message(): string {
      throw new Error('message getter');
    },
  }),
  'error-message-getter': () =>
    Object.defineProperty(new Error('x'), 'message', {
      get() {
        throw Object.create(null);
      },
    }),
  'tostring-throws': () => ({
    toString() {
      throw Object.create(null);
    },
  }),
  'message-object': () => ({ message: JSON.parse('{"toString":1}') }),
  symbol: () => Symbol('odd'),
  proxy: () => new Proxy({}, { get: throwing, getPrototypeOf: throwing, has: throwing, ownKeys: throwing, getOwnPropertyDescriptor: throwing }),
  revoked: () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  },
  // Claims to be a declared exception, then throws on every read.
  'fake-declared': () => new Proxy(Object.create(ThriftException.prototype), { get: throwing }),
  null: () => null,
  undefined: () => undefined,
};

/** How a handler delivers the odd value. */
export const HOWS = ['throw', 'reject', 'then-getter', 'then-throws', 'then-twice'] as const;

/** Fails with ODD_VALUES[kind], delivered as `how` says. */
export function failWith(kind: string, how: string): unknown {
  const odd = ODD_VALUES[kind]!;
  switch (how) {
    case 'throw':
      throw odd();
    case 'reject':
      return new Promise((_, reject) => setImmediate(() => reject(odd())));
    case 'then-getter': // reading `then` throws
      return {
        // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point of this case
        get then(): never {
          throw odd();
        },
      };
    case 'then-throws': // `then` is a function that throws
      return {
        // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point of this case
        then(): never {
          throw odd();
        },
      };
    case 'then-twice': // rejects twice, then resolves: one reply only
      return {
        // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point of this case
        then(ok: (v: unknown) => void, fail: (e: unknown) => void) {
          fail(odd());
          fail(odd());
          ok('late');
          throw odd();
        },
      };
    default:
      throw new Error(`unknown how ${how}`);
  }
}
