import { newCallContext, type CallOptions } from './context.js';
import type { Service } from './service.js';
import type { Stack } from './stack.js';
import type { StatsRegistry } from '../stats/registry.js';

/**
 * Control surface every Scales client carries next to its RPC methods. The `$` prefix cannot
 * appear in Thrift, protobuf or ZeroRPC method names, so it never shadows a method.
 */
export interface ClientControl {
  /** The stack this client was built from; `$stack.describe()` prints the roles in order. */
  readonly $stack: Stack;
  /** Requests, outcomes by code, latency, per node and for the whole client. */
  readonly $stats: StatsRegistry;
  /** Stops accepting calls and closes every connection. */
  $close(): Promise<void>;
}

export interface ProxyMethod<Call> {
  readonly name: string;
  /** Number of positional parameters; one more argument is taken as CallOptions. */
  readonly arity: number;
  /** Builds the stack request from the positional arguments. */
  readonly toCall: (args: readonly unknown[]) => Call;
}

/**
 * A plain object with one function per method (faster than a Proxy and visible to tooling), each
 * creating the call's context and sending the request down the stack.
 */
export function createClientProxy<Call, Client>(
  methods: readonly ProxyMethod<Call>[],
  service: Service<Call, unknown>,
  stack: Stack,
  defaultTimeout: number | undefined,
  stats: StatsRegistry,
  onClose: () => void = noop,
): Client & ClientControl {
  const client: Record<string, unknown> = {};
  for (const m of methods) {
    const { name, arity, toCall } = m;
    client[name] = function (...args: unknown[]): Promise<unknown> {
      let options: CallOptions | undefined;
      if (args.length > arity) options = args[arity] as CallOptions | undefined;
      try {
        const ctx = newCallContext(name, options, defaultTimeout);
        return service.call(toCall(args), ctx);
      } catch (err) {
        return Promise.reject(err);
      }
    };
  }
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
