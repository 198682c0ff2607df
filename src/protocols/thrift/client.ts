import { Balancer } from '../../balancer/balancer.js';
import { RoundRobinPicker } from '../../balancer/round-robin.js';
import { StaticServerSet } from '../../discovery/serverset.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { createClientProxy, type ClientControl, type ProxyMethod } from '../../core/proxy.js';
import type { Service } from '../../core/service.js';
import { layer, Stack, type StackLayer } from '../../core/stack.js';
import { formatAddress, parseDestination, type Address } from '../../discovery/uri.js';
import { PipelinePool, type PooledSession } from '../../pool/pipeline.js';
import { timeoutLayer } from '../../resilience/timeout.js';
import { Connection } from '../../transport/index.js';
import type { ServiceDesc } from './descriptors.js';
import { thriftFraming, type ThriftTransportKind } from './framing.js';
import type { ThriftCall, ThriftReply, ThriftRequest } from './messages.js';
import { makeProtocol, type ThriftProtocolKind } from './protocols.js';
import { serializerLayer } from './serializer.js';
import { ThriftSession } from './session.js';

export interface ThriftClientOptions {
  /** Wire protocol (default 'binary'). */
  protocol?: ThriftProtocolKind;
  /** 'framed' (default, TFramedTransport) or 'buffered' (TBufferedTransport, unframed). */
  transport?: ThriftTransportKind;
  /** Default per-call timeout in ms (default: none; per-call options and inherited deadlines still apply). */
  timeout?: number;
  /** Connect timeout in ms (default 5000). */
  connectTimeout?: number;
  /** Connections per node (default 1: calls are pipelined and matched by seqid). */
  poolSize?: number;
  /** Largest frame sent or accepted, in bytes (default 16 MiB). */
  maxFrameSize?: number;
  /** Calls abandoned by timeout/cancel whose replies are still due, before the connection is reset (default 1024). */
  maxAbandoned?: number;
}

type Session = PooledSession<ThriftRequest, ThriftReply>;

/**
 * `Thrift.newBuilder(Service).withTimeout(100).build('tcp://host:port')` — every option has a
 * `with...` method; `withStack` edits the stack by role name before it is built.
 */
export class ThriftClientBuilder<Client> {
  constructor(
    private readonly service: ServiceDesc<Client>,
    private readonly options: Readonly<ThriftClientOptions> = {},
    private readonly stackEdits: readonly ((s: Stack) => Stack)[] = [],
  ) {}

  private with(patch: ThriftClientOptions): ThriftClientBuilder<Client> {
    return new ThriftClientBuilder(this.service, { ...this.options, ...patch }, this.stackEdits);
  }

  withProtocol(protocol: ThriftProtocolKind): ThriftClientBuilder<Client> {
    return this.with({ protocol });
  }
  withTransport(transport: ThriftTransportKind): ThriftClientBuilder<Client> {
    return this.with({ transport });
  }
  withTimeout(timeout: number): ThriftClientBuilder<Client> {
    return this.with({ timeout });
  }
  withConnectTimeout(connectTimeout: number): ThriftClientBuilder<Client> {
    return this.with({ connectTimeout });
  }
  withPoolSize(poolSize: number): ThriftClientBuilder<Client> {
    return this.with({ poolSize });
  }
  withMaxFrameSize(maxFrameSize: number): ThriftClientBuilder<Client> {
    return this.with({ maxFrameSize });
  }
  withMaxAbandoned(maxAbandoned: number): ThriftClientBuilder<Client> {
    return this.with({ maxAbandoned });
  }
  /** Insert, replace or remove roles: `b.withStack((s) => s.insertBefore('serializer', myLayer))`. */
  withStack(edit: (stack: Stack) => Stack): ThriftClientBuilder<Client> {
    return new ThriftClientBuilder(this.service, this.options, [...this.stackEdits, edit]);
  }

  /** The stack `build(dest)` would use, e.g. to print it. */
  stack(dest: string): Stack {
    let stack = defaultStack(this.options, parseDestination(dest).addresses);
    for (const edit of this.stackEdits) stack = edit(stack);
    return stack;
  }

  build(dest: string): Client & ClientControl {
    const stack = this.stack(dest);
    const top = stack.build<ThriftCall, unknown>();
    return createClientProxy<ThriftCall, Client>(proxyMethods(this.service), top, stack, this.options.timeout);
  }
}

function checkOptions(o: ThriftClientOptions): void {
  const positive = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got ${String(v)}`);
  };
  positive('timeout', o.timeout);
  positive('connectTimeout', o.connectTimeout);
  positive('poolSize', o.poolSize);
  positive('maxFrameSize', o.maxFrameSize);
  positive('maxAbandoned', o.maxAbandoned);
  if (o.transport !== undefined && o.transport !== 'framed' && o.transport !== 'buffered') {
    throw new InvalidArgumentError(`transport must be 'framed' or 'buffered', got '${String(o.transport)}'`);
  }
}

/** timeout → serializer → loadbalancer → pool → transport. */
function defaultStack(o: ThriftClientOptions, addresses: readonly Address[]): Stack {
  checkOptions(o);
  const protocol = makeProtocol(o.protocol ?? 'binary', o.maxFrameSize);
  const transport = o.transport ?? 'framed';
  const framing = thriftFraming(transport, protocol);
  const maxFrameSize = o.maxFrameSize ?? 16 * 1024 * 1024;
  const connectTimeoutMs = o.connectTimeout ?? 5000;

  const connectTo = (a: Address) => async (): Promise<Session> => {
    const conn = await Connection.connect(a.host, a.port, { framing, maxFrameSize, connectTimeoutMs, endpoint: formatAddress(a) });
    return new ThriftSession(conn, protocol, { maxAbandoned: o.maxAbandoned });
  };
  // Below the balancer everything is per node: the terminal role yields a connector per address.
  const transportLayer: StackLayer = {
    role: 'transport',
    description: `TCP, Thrift ${transport} ${protocol.name}, seqid-matched pipelining, connect timeout ${connectTimeoutMs} ms`,
    make: () => connectTo,
  };
  const poolLayer: StackLayer = {
    role: 'pool',
    description: `pipelined, ${o.poolSize ?? 1} connection(s) per node`,
    make: (connector) => (a: Address) => new PipelinePool<ThriftRequest, ThriftReply>((connector as typeof connectTo)(a), { size: o.poolSize ?? 1 }),
  };
  const label = addresses.map(formatAddress).join(',');
  const balancerLayer = layer('loadbalancer', `round-robin over a live set of ${addresses.length} node(s)`, (makeNode: (a: Address) => Service<ThriftRequest, ThriftReply>) =>
    new Balancer(new StaticServerSet(addresses), makeNode, new RoundRobinPicker(), label),
  );
  return new Stack([timeoutLayer(), serializerLayer(protocol), balancerLayer, poolLayer, transportLayer]);
}

function proxyMethods(service: ServiceDesc): ProxyMethod<ThriftCall>[] {
  return Object.values(service.methods).map((method) => {
    const params = method.params;
    return {
      name: method.name,
      arity: params.length,
      toCall: (args: readonly unknown[]): ThriftCall => {
        const obj: Record<string, unknown> = {};
        for (let i = 0; i < params.length; i++) obj[params[i]!] = args[i];
        return { method, args: obj };
      },
    };
  });
}
