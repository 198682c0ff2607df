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
  const body = `return function (${params}${params === '' ? '' : ', '}options) {
  try {
    return service.call(toCall(${params}), newCallContext(name, options, defaultTimeout));
  } catch (err) {
    return Promise.reject(err);
  }
};`;
  const make = new Function('service', 'toCall', 'newCallContext', 'name', 'defaultTimeout', body) as (
    svc: Service<Call, unknown>,
    toCall: ProxyMethod<Call>['toCall'],
    ctx: typeof newCallContext,
    name: string,
    timeout: number | undefined,
  ) => (...args: unknown[]) => Promise<unknown>;
  const fn = make(service, m.toCall, newCallContext, m.name, defaultTimeout);
  Object.defineProperty(fn, 'name', { value: m.name }); // for stack traces
  return fn;
}
