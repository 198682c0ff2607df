import type { ClientControl } from '../../client/proxy.js';
import type { ServerSet } from '../../discovery/serverset.js';
import { ThriftClientBuilder, type ThriftClientOptions } from './client.js';
import type { ServiceDesc } from './descriptors.js';
import { serveThrift, type ThriftServer, type ThriftServerOptions } from './server.js';
import { serveMultiplexed, type MultiplexedServerOptions, type MultiplexedServices } from './multiplexed-server.js';
import type { ServiceEntry } from './multiplexed.js';

/**
 * Entry point, the same shape for every Scales protocol:
 *   const client = Thrift.newClient(UserService, 'tcp://127.0.0.1:9090');
 *   const server = await Thrift.serve(UserService, handler, { port: 9090 });
 */
export const Thrift = {
  newClient<Client>(service: ServiceDesc<Client>, dest: string | ServerSet, options?: ThriftClientOptions): Client & ClientControl {
    return new ThriftClientBuilder(service, options).build(dest);
  },
  newBuilder<Client>(service: ServiceDesc<Client>, options?: ThriftClientOptions): ThriftClientBuilder<Client> {
    return new ThriftClientBuilder(service, options);
  },
  serve<Handler extends object>(service: ServiceDesc<unknown, Handler>, handler: Handler, options?: ThriftServerOptions): Promise<ThriftServer> {
    return serveThrift(service, handler, options);
  },
  /**
   * Several services on one port, Apache's multiplexed protocol (TMultiplexedProcessor):
   *   await Thrift.serveMultiplexed({ Users: [UserService, users], Admin: [AdminService, admin] }, { port: 9090 });
   * Clients call `Users:getUser` (`withServiceName('Users')`); `defaultService` answers plain names.
   */
  serveMultiplexed<S extends Record<string, ServiceEntry>>(services: S & MultiplexedServices<S>, options?: MultiplexedServerOptions): Promise<ThriftServer> {
    return serveMultiplexed(services, options);
  },
};

export { ThriftClientBuilder, type ThriftClientOptions } from './client.js';
export { serveThrift, type ThriftServer, type ThriftServerOptions } from './server.js';
export { isOverloadRejection, OVERLOADED_PREFIX } from './server-codec.js';
export { serveMultiplexed, type MultiplexedServerOptions, type MultiplexedServices } from './multiplexed-server.js';
export { SERVICE_SEPARATOR, type ServiceEntry } from './multiplexed.js';
export { DEFAULT_HEADER_LIMITS, HeaderLimitError, type HeaderLimits } from './header.js';
export { TTwitterHeaderError } from './ttwitter.js';
export { CLIENT_TIMEOUT_HEADER, ThriftHeaders } from './header-context.js';
// A handler reads ThriftHeaders (and the keys given in contextKeys) with it.
export { receivedValue } from '../thriftmux/values.js';
export { createContextKey, type ContextKey } from '../../core/context-key.js';
export { withContextValue } from '../../core/context.js';
export { T, TType, MessageType, ThriftException } from './descriptors.js';
export type { TypeDesc, FieldDesc, StructDesc, MethodDesc, ServiceDesc, FieldRequiredness } from './descriptors.js';
export type { ThriftProtocol, MessageHeader, DecodeLimits } from './protocol.js';
export type { ThriftProtocolKind } from './protocols.js';
export type { ThriftTransportKind } from './framing.js';
export { makeProtocol } from './protocols.js';
export { binaryProtocol } from './binary.js';
export { compactProtocol } from './compact.js';
export { DecodeBudgetError, DEFAULT_LIMITS } from './codec-shared.js';
export { ThriftApplicationError, TApplicationExceptionType } from './application-exception.js';
export type { CallOptions } from '../../core/context.js';
export type { ServerCallContext } from '../../core/server-context.js';
export type { ClientControl } from '../../client/proxy.js';
// ScalesError and co., and what a custom layer needs, from this entry point too.
export * from '../../client/extend.js';
export type { ThriftCall, ThriftReply, ThriftRequest } from './messages.js';
export { loadIdl, loadIdlSync, generateTypeScript } from './idl/index.js';
export type { IdlModule, IdlLoadOptions, GenerateOptions } from './idl/index.js';
export { TlsError, type TlsFailure, type TlsClientOptions, type TlsServerOptions } from '../../transport/tls.js';
