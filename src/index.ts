// `scales-rpc`: the protocol-independent core. Protocols live in subpaths (`scales-rpc/thrift`).
export * from './core/errors.js';
export { consoleLogger, defaultLogger, setDefaultLogger, silentLogger, type ConsoleLoggerOptions, type LogFields, type Logger, type LogLevel } from './core/logger.js';
export { classifier, classifyError, defaultClassifier, outcomeCode, USER_EXCEPTION, type ClassifierParts, type ResponseClass, type ResponseClassifier } from './core/classify.js';
export { ContextKey, createContextKey, type WireCodec } from './core/context-key.js';
export { CallContext, type Service, type ServiceFactory, type Status } from './core/service.js';
export { Stack, layer, ANY_SERVICE, type StackLayer, type StackView, type BuildContext, type AttemptListener, type LayerKind } from './core/stack.js';
export { ForwardingService } from './core/filter.js';
export { dispatcherOf, callByDispatch, type Dispatcher } from './core/dispatch.js';
export type { ReplyHandler } from './core/service.js';
export { ClientStack } from './client/client-stack.js';
export { Role, CALL, WIRE, CONNECTOR, type RoleName } from './client/roles.js';
export { clientStack, type ProtocolParts, type BuiltClientStack } from './client/stack.js';
export { ClientBuilderBase, type StackEdit } from './client/builder.js';
export { createClientProxy, type ProxyMethod } from './client/proxy.js';
export { endpointKey, isTcpEndpoint, tcpAddress, type Endpoint, type TcpEndpoint, type UriEndpoint } from './discovery/endpoint.js';
export { Connection, listenTcp, createDecoder, type ConnectionOptions, type Framing, type FrameDecoder, type MessageMeasurer, type TcpListener, type TcpListenOptions } from './transport/index.js';
export { FrameBudget, partialFrameBudget } from './transport/index.js';
export { TlsError, TLS_DEFAULTS, type TlsFailure, type TlsOptions, type TlsClientOptions, type TlsServerOptions, type Pem } from './transport/tls.js';
export type { PooledConnection, Connector } from './pool/types.js';
export { currentContext, runWithContext, withContextValue, type AmbientContext, type CallOptions } from './core/context.js';
export type { ClientControl } from './client/proxy.js';
export type { ServerCallContext } from './core/server-context.js';
export { parseDestination, parseAddress, formatAddress, type Address, type Destination } from './discovery/uri.js';
export { timeoutLayer } from './resilience/timeout.js';
export { StaticServerSet, type ServerSet } from './discovery/serverset.js';
export { registerScheme, resolveDestination, type SchemeResolver, type ResolvedDestination } from './discovery/resolve.js';
export { ZkServerSet, type ZkServerSetOptions } from './discovery/zk/serverset.js';
export { parseZkUri, type ZkUri } from './discovery/zk/uri.js';
export { DnsServerSet, type DnsServerSetOptions } from './discovery/dns.js';
export { announce, registerAnnouncer, ServerAnnouncements, type AnnounceOptions, type Announcement, type Announcer } from './discovery/announce.js';
export { readMember, formatMember, type MemberRecord, type MemberReading, type MemberStatus } from './discovery/member.js';
export { discoveryStats, logDiscoveryToStderr, type DiscoveryLog } from './discovery/observe.js';
export type { ClientStackOptions, LoadBalancerConfig, LoadBalancerKind, PoolConfig, RetryConfig, HedgingConfig, FailureAccrualConfig } from './client/options.js';
export {
  RetryBudget,
  constantBackoff,
  equalJitterBackoff,
  exponentialBackoff,
  fullJitterBackoff,
  noBackoff,
  type Backoff,
  type RetryBudgetOptions,
} from './resilience/index.js';
export { StatsRegistry, type StatsSnapshot, type ScopeSnapshot } from './stats/index.js';

// Extension points for a protocol's sessions and servers (see docs/architecture.md, "Adding a protocol").
export { MultiplexedSession, SerialSession, SessionBase, UNTAGGED, type MultiplexedCodec, type SessionCodec, type SessionControl, type SessionOptions } from './session/index.js';
export type { TagSpace } from './core/tags.js';
export {
  MAX_ECHOED_NAME,
  UnknownMethod,
  ServerDispatcher,
  ServerRequestContext,
  serverStack,
  listenStream,
  STREAM_SERVER_LIMITS,
  logToStderr,
  describeError,
  type ServerCodec,
  type ServerErrorKind,
  type ServerRequest,
  type ServerService,
  type ServerStackOptions,
  type ServerDispatcherOptions,
  type StreamServer,
  type StreamServerOptions,
  type HandlerFn,
  type ErrorHook,
} from './server/index.js';
