import { newCallContext } from '../core/context.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { Service } from '../core/service.js';
import type { StackView } from '../core/stack.js';
import type { StatsRegistry } from '../stats/registry.js';

/**
 * Control surface every Scales client carries next to its RPC methods. The `$` prefix cannot
 * appear in Thrift, protobuf or ZeroRPC method names, so it never shadows a method.
 */
export interface ClientControl {
  /** The stack this client was built from; `$stack.describe()` prints the roles in order. */
  readonly $stack: StackView;
  /** Requests, outcomes by code, latency, per node and for the whole client. */
  readonly $stats: StatsRegistry;
  /** Stops accepting calls and closes every connection. */
  $close(): Promise<void>;
}

export interface ProxyMethod<Call> {
  readonly name: string;
  /** Number of positional parameters; one more argument is taken as CallOptions. */
  readonly arity: number;
  /** Builds the stack request from the `arity` positional arguments. */
  readonly toCall: (...args: unknown[]) => Call;
  /**
   * Parameters from this index on may be left out. Then the last argument given, at index `i`, is
   * taken as the call options when `isOptions(i, value)` says so (`scan('a', 2, { timeout: 100 })`
   * with an optional third parameter). Absent: every call passes all `arity` arguments.
   */
  readonly optionalFrom?: number;
  readonly isOptions?: (index: number, value: unknown) => boolean;
}

/**
 * A plain object with one function per method (faster than a Proxy and visible to tooling), each
 * creating the call's context and sending the request down the stack.
 */
export function createClientProxy<Call, Client>(
  methods: readonly ProxyMethod<Call>[],
  service: Service<Call, unknown>,
  stack: StackView,
  defaultTimeout: number | undefined,
  stats: StatsRegistry,
  onClose: () => void = noop,
): Client & ClientControl {
  const client: Record<string, unknown> = {};
  for (const m of methods) client[m.name] = methodFunction(m, service, defaultTimeout);
  Object.defineProperty(client, '$stack', { value: stack, enumerable: false });
  Object.defineProperty(client, '$stats', { value: stats, enumerable: false });
  Object.defineProperty(client, '$close', {
    value: async () => {
      await service.close();
      onClose();
    },
    enumerable: false,
  });
  return client as Client & ClientControl;
}

function noop(): void {}

/**
 * The client function of one method, compiled with its own positional parameters (a rest
 * parameter would allocate an array per call): `(a0, ..., options) => service.call(...)`.
 */
function methodFunction<Call>(m: ProxyMethod<Call>, service: Service<Call, unknown>, defaultTimeout: number | undefined): (...args: unknown[]) => Promise<unknown> {
  if (!(Number.isInteger(m.arity) && m.arity >= 0 && m.arity <= 255)) throw new InvalidArgumentError(`method ${m.name}: bad arity ${String(m.arity)}`);
  const params = Array.from({ length: m.arity }, (_, i) => `a${i}`).join(', ');
  const from = m.optionalFrom ?? m.arity;
  // Only methods with optional parameters read `arguments` (it slows the others down).
  const shift =
    from < m.arity && m.isOptions
      ? `const n = arguments.length;
    if (options === undefined && n > ${from} && n <= ${m.arity} && isOptions(n - 1, arguments[n - 1])) {
      options = arguments[n - 1];
      ${Array.from({ length: m.arity - from }, (_, k) => `if (n === ${from + k + 1}) a${from + k} = undefined;`).join(' else ')}
    }`
      : '';
  const body = `return function (${params}${params === '' ? '' : ', '}options) {
  try {
    ${shift}
    return service.call(toCall(${params}), newCallContext(name, options, defaultTimeout));
  } catch (err) {
    return Promise.reject(err);
  }
};`;
  const make = new Function('service', 'toCall', 'newCallContext', 'name', 'defaultTimeout', 'isOptions', body) as (
    svc: Service<Call, unknown>,
    toCall: ProxyMethod<Call>['toCall'],
    ctx: typeof newCallContext,
    name: string,
    timeout: number | undefined,
    isOptions: ProxyMethod<Call>['isOptions'],
  ) => (...args: unknown[]) => Promise<unknown>;
  const fn = make(service, m.toCall, newCallContext, m.name, defaultTimeout, m.isOptions);
  Object.defineProperty(fn, 'name', { value: m.name }); // for stack traces
  return fn;
}
