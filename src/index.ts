// `scales-rpc`: the protocol-independent core. Protocols live in subpaths (`scales-rpc/thrift`).
export * from './core/errors.js';
export { classifier, classifyError, defaultClassifier, outcomeCode, USER_EXCEPTION, type ClassifierParts, type ResponseClass, type ResponseClassifier } from './core/classify.js';
export { ContextKey, createContextKey, type WireCodec } from './core/context-key.js';
export { CallContext, type Service, type ServiceFactory, type Status } from './core/service.js';
export { Stack, layer, type StackLayer } from './core/stack.js';
export { currentContext, runWithContext, type AmbientContext, type CallOptions } from './core/context.js';
export type { ClientControl } from './core/proxy.js';
export type { ServerCallContext } from './core/server-context.js';
export { parseDestination, parseAddress, formatAddress, type Address, type Destination } from './discovery/uri.js';
export { timeoutLayer } from './resilience/timeout.js';
export { StaticServerSet, type ServerSet } from './discovery/serverset.js';
export { registerScheme, resolveDestination, type SchemeResolver, type ResolvedDestination } from './discovery/resolve.js';
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
