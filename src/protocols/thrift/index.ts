import type { ClientControl } from '../../client/proxy.js';
import type { ServerSet } from '../../discovery/serverset.js';
import { ThriftClientBuilder, type ThriftClientOptions } from './client.js';
import type { ServiceDesc } from './descriptors.js';
import { serveThrift, type ThriftServer, type ThriftServerOptions } from './server.js';

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
};

export { ThriftClientBuilder, type ThriftClientOptions } from './client.js';
export { serveThrift, type ThriftServer, type ThriftServerOptions } from './server.js';
export { isOverloadRejection, OVERLOADED_PREFIX } from './server-codec.js';
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
export { loadIdl, loadIdlSync, generateTypeScript } from './idl/index.js';
export type { IdlModule, IdlLoadOptions, GenerateOptions } from './idl/index.js';
