/**
 * What a custom client layer needs (its service, the context, the errors to raise or switch
 * on), re-exported by every protocol's entry point, so `scales-rpc/thrift` alone is enough to
 * write one: `b.withStack((s) => s.insertAfter(Role.retries, layer('mine', '...', (below) => ...)))`.
 */
export * from '../core/errors.js';
export { CallContext, type ReplyHandler, type Service, type Status } from '../core/service.js';
export { layer, type BuildContext, type StackLayer, type StackView } from '../core/stack.js';
export { ForwardingService } from '../core/filter.js';
export { Role, type RoleName } from './roles.js';
export type { ClientStack } from './client-stack.js';
export type { StackEdit } from './builder.js';
export type { ClientStackOptions } from './options.js';
export { StatsRegistry } from '../stats/index.js';
export { consoleLogger, setDefaultLogger, silentLogger, type LogFields, type Logger, type LogLevel } from '../core/logger.js';
