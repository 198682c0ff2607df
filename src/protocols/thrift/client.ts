import { ClientBuilderBase, optionKeys, STACK_OPTION_KEYS, type StackEdit } from '../../client/builder.js';
import { checkStackOptions, type ClientStackOptions, type PoolConfig } from '../../client/options.js';
import { clientStack, type ProtocolParts } from '../../client/stack.js';
import { ConnectionClosedError, InvalidArgumentError } from '../../core/errors.js';
import { createClientProxy, type ClientControl } from '../../client/proxy.js';
import type { ClientStack } from '../../client/client-stack.js';
import { resolveDestination } from '../../discovery/resolve.js';
import type { ServerSet } from '../../discovery/serverset.js';
import { endpointKey, tcpAddress } from '../../discovery/endpoint.js';
import type { StatsRegistry } from '../../stats/registry.js';
import { CLOSED_BEFORE_ANY_REPLY, Connection } from '../../transport/index.js';
import { clientTls, type TlsClientOptions } from '../../transport/tls.js';
import type { ServiceDesc } from './descriptors.js';
import { thriftClassifier, thriftEndpointClassifier } from './classifier.js';
import { thriftFraming, type ThriftTransportKind } from './framing.js';
import { checkHeaderLimits, DEFAULT_HEADER_LIMITS, type HeaderLimits } from './header.js';
import { HeaderThriftSession } from './header-session.js';
import { checkServiceName } from './multiplexed.js';
import type { ThriftCall, ThriftReply, ThriftRequest } from './messages.js';
import type { DecodeLimits } from './protocol.js';
import { makeProtocol, type ThriftProtocolKind } from './protocols.js';
import { proxyMethods } from './proxy-methods.js';
import { serializerLayer } from './serializer.js';
import { ThriftSession } from './session.js';
import { negotiateTTwitter, TTwitterThriftSession } from './ttwitter-session.js';

export interface ThriftClientOptions extends ClientStackOptions {
  /** Wire protocol (default 'binary'). */
  protocol?: ThriftProtocolKind;
  /**
   * 'framed' (default, TFramedTransport), 'buffered' (TBufferedTransport, unframed) or 'header'
   * (THeader: the call's deadline and context values travel as info headers; docs/thrift.md).
   */
  transport?: ThriftTransportKind;
  /**
   * The name a multiplexed server registered the service under (Apache's TMultiplexedProtocol):
   * calls go as `serviceName:method`. Default: none (plain method names).
   */
  serviceName?: string;
  /** Limits on a THeader reply's info headers (transport 'header'; defaults in docs/thrift.md). */
  headerLimits?: Partial<HeaderLimits>;
  /**
   * Shorthand for `pool: { kind: 'pipeline', size }`: this many connections per node, each
   * carrying many calls at once matched by seqid (every compliant Thrift server answers
   * pipelined calls in order). Without it (and without `pool`) the pool is a watermark pool:
   * one call per connection, as Finagle and Python Scales run Thrift.
   */
  poolSize?: number;
  /** Largest frame sent or accepted, in bytes (default 16 MiB). */
  maxFrameSize?: number;
  /** Decoder limits for replies: nesting, string and container sizes, the decode budget (docs/thrift.md). */
  decodeLimits?: Partial<DecodeLimits>;
  /** Calls abandoned by timeout/cancel whose replies are still due, before the connection is reset (default 1024). */
  maxAbandoned?: number;
  /** TLS for every endpoint (mTLS with `cert`/`key`); `tls://` endpoints use TLS even without it (docs/tls.md). */
  tls?: TlsClientOptions;
  /**
   * Finagle's TTwitter upgrade (framed transport only): each connection first calls
   * `__can__finagle__trace__v3__`; if the server takes it, every call carries a RequestHeader with
   * its trace, client id, deadline and contexts (docs/thriftmux.md); if not, the connection stays
   * plain. Default false.
   */
  ttwitter?: boolean;
  /** The client id a TTwitter RequestHeader carries (with `ttwitter: true`). */
  clientId?: string;
}

const THRIFT_OPTION_KEYS = optionKeys<ThriftClientOptions>({
  ...STACK_OPTION_KEYS,
  protocol: true,
  transport: true,
  poolSize: true,
  maxFrameSize: true,
  decodeLimits: true,
  maxAbandoned: true,
  serviceName: true,
  headerLimits: true,
  tls: true,
  ttwitter: true,
  clientId: true,
});

/** Thrift's default pool: one call per connection, up to 8 connections per node. */
export const THRIFT_DEFAULT_POOL: PoolConfig = { kind: 'watermark' };

/**
 * `Thrift.newBuilder(Service).withTimeout(100).build('tcp://host:port')` — every option has a
 * `with...` method (the shared ones come from ClientBuilderBase); `withStack` edits the stack
 * by role name before it is built.
 */
export class ThriftClientBuilder<Client> extends ClientBuilderBase<ThriftClientBuilder<Client>, ThriftClientOptions, Extract<keyof Client, string>> {
  constructor(
    private readonly service: ServiceDesc<Client>,
    options: Readonly<ThriftClientOptions> = {},
    stackEdits: readonly StackEdit[] = [],
  ) {
    super(options, stackEdits, { optionKeys: THRIFT_OPTION_KEYS, methods: Object.keys(service.methods), service: service.name });
  }

  protected copy(options: ThriftClientOptions, stackEdits: readonly StackEdit[]): ThriftClientBuilder<Client> {
    return new ThriftClientBuilder(this.service, options, stackEdits);
  }

  withProtocol(protocol: ThriftProtocolKind): ThriftClientBuilder<Client> {
    return this.with({ protocol });
  }
  withTransport(transport: ThriftTransportKind): ThriftClientBuilder<Client> {
    return this.with({ transport });
  }
  /** Calls go as `serviceName:method`, for a multiplexed server (see ThriftClientOptions.serviceName). */
  withServiceName(serviceName: string): ThriftClientBuilder<Client> {
    return this.with({ serviceName });
  }
  /** `poolSize` pipelined connections per node (see ThriftClientOptions.poolSize). */
  withPoolSize(poolSize: number): ThriftClientBuilder<Client> {
    return this.with({ poolSize });
  }
  withMaxFrameSize(maxFrameSize: number): ThriftClientBuilder<Client> {
    return this.with({ maxFrameSize });
  }
  withMaxAbandoned(maxAbandoned: number): ThriftClientBuilder<Client> {
    return this.with({ maxAbandoned });
  }
  /** TLS (mTLS with `cert` and `key`) to every endpoint (docs/tls.md). */
  withTls(tls: TlsClientOptions): ThriftClientBuilder<Client> {
    return this.with({ tls });
  }

  /** Finagle's TTwitter upgrade on every connection, with this client id in its headers (see ThriftClientOptions.ttwitter). */
  withTTwitter(clientId?: string): ThriftClientBuilder<Client> {
    return this.with(clientId === undefined ? { ttwitter: true } : { ttwitter: true, clientId });
  }

  /** The stack `build(dest)` would use, e.g. to print it. */
  stack(dest: string | ServerSet): ClientStack {
    return this.make(dest).stack;
  }

  build(dest: string | ServerSet): Client & ClientControl {
    const { stack, stats, serverSet, owned } = this.make(dest);
    const top = stack.build<ThriftCall, unknown>();
    return createClientProxy<ThriftCall, Client>(proxyMethods(this.service), top, stack, this.options.timeout, stats, () => {
      if (owned) serverSet.close();
    });
  }

  private make(dest: string | ServerSet): { stack: ClientStack; stats: StatsRegistry; serverSet: ServerSet; owned: boolean } {
    const o = this.options;
    checkOptions(o);
    const { serverSet, label, owned } = resolveDestination(dest);
    const built = clientStack(
      thriftParts(o),
      { ...o, pool: o.pool ?? (o.poolSize !== undefined ? { kind: 'pipeline', size: o.poolSize } : THRIFT_DEFAULT_POOL) },
      serverSet,
      `${this.service.name}@${label}`,
    );
    return { stack: this.applyEdits(built.stack), stats: built.stats, serverSet, owned };
  }
}

function checkOptions(o: ThriftClientOptions): void {
  checkStackOptions(o);
  const positive = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got ${String(v)}`);
  };
  positive('poolSize', o.poolSize);
  positive('maxFrameSize', o.maxFrameSize);
  positive('maxAbandoned', o.maxAbandoned);
  if (o.poolSize !== undefined && o.pool !== undefined) throw new InvalidArgumentError('give either poolSize or pool, not both');
  if (o.transport !== undefined && o.transport !== 'framed' && o.transport !== 'buffered' && o.transport !== 'header') {
    throw new InvalidArgumentError(`transport must be 'framed', 'buffered' or 'header', got '${String(o.transport)}'`);
  }
  if (o.serviceName !== undefined) checkServiceName(o.serviceName, 'serviceName');
  if (o.ttwitter !== undefined && typeof o.ttwitter !== 'boolean') throw new InvalidArgumentError(`ttwitter must be true or false, got ${String(o.ttwitter)}`);
  if (o.ttwitter === true && (o.transport ?? 'framed') !== 'framed') throw new InvalidArgumentError(`ttwitter needs the framed transport, not '${o.transport}'`);
  if (o.clientId !== undefined && (typeof o.clientId !== 'string' || o.ttwitter !== true)) throw new InvalidArgumentError('clientId is a string sent in TTwitter headers: give it with ttwitter: true');
  checkHeaderLimits(o.headerLimits);
}

function thriftParts(o: ThriftClientOptions): ProtocolParts<ThriftRequest, ThriftReply> {
  const protocol = makeProtocol(o.protocol ?? 'binary', o.maxFrameSize, o.decodeLimits);
  const transport = o.transport ?? 'framed';
  const maxFrameSize = o.maxFrameSize ?? 16 * 1024 * 1024;
  const framing = thriftFraming(transport, protocol, maxFrameSize);
  const headerLimits: HeaderLimits = { ...DEFAULT_HEADER_LIMITS, maxInflatedBytes: maxFrameSize, ...o.headerLimits };
  const sessionOptions = { maxAbandoned: o.maxAbandoned, serviceName: o.serviceName };
  const tlsFor = clientTls(o.tls);
  return {
    connect: async (endpoint, connectTimeoutMs) => {
      const a = tcpAddress(endpoint, 'Thrift over TCP');
      const started = Date.now();
      const conn = await Connection.connect(a.host, a.port, { framing, maxFrameSize, connectTimeoutMs, endpoint: endpointKey(a), tls: tlsFor(a) });
      // TTwitter: the upgrade call first, within what is left of the connect timeout.
      const upgraded = o.ttwitter === true && (await negotiateTTwitter(conn, protocol, Math.max(1, connectTimeoutMs - (Date.now() - started))));
      const session = upgraded
        ? new TTwitterThriftSession(conn, protocol, o.clientId, sessionOptions)
        : transport === 'header'
          ? new HeaderThriftSession(conn, protocol, headerLimits, sessionOptions)
          : new ThriftSession(conn, protocol, sessionOptions);
      // The server's FIN comes after every reply it will ever send: close now. Half-closed, the
      // session would still look open to the pool, and the next call on it would fail with
      // 'connection is closing' — an error that does not say the request was never sent.
      conn.onPeerEnd = () => {
        const why = conn.received ? '' : ` ${CLOSED_BEFORE_ANY_REPLY}`;
        conn.close(new ConnectionClosedError(`${conn.endpoint} closed the connection${why}`, { endpoint: conn.endpoint }));
      };
      return session;
    },
    transportDescription: `${o.tls === undefined ? 'TCP' : 'TLS'}, Thrift ${transport} ${protocol.name}${o.serviceName === undefined ? '' : `, multiplexed as '${o.serviceName}'`}${o.ttwitter === true ? ', TTwitter upgrade tried' : ''}, seqid-matched`,
    serializer: serializerLayer(protocol),
    defaultPool: THRIFT_DEFAULT_POOL,
    multiplexed: true,
    classifier: thriftClassifier,
    endpointClassifier: thriftEndpointClassifier,
  };
}
