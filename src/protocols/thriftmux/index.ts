import type { ClientControl } from '../../client/proxy.js';
import type { ServerSet } from '../../discovery/serverset.js';
import type { ServiceDesc } from '../thrift/descriptors.js';
import { ThriftMuxClientBuilder, type ThriftMuxClientOptions } from './client.js';
import { serveThriftMux, type ThriftMuxServer, type ThriftMuxServerOptions } from './server.js';

/**
 * Finagle's ThriftMux, with the same generated Thrift descriptors as plain Thrift:
 *   const client = ThriftMux.newClient(UserService, 'tcp://127.0.0.1:9090');
 *   const server = await ThriftMux.serve(UserService, handler, { port: 9090 });
 */
export const ThriftMux = {
  newClient<Client>(service: ServiceDesc<Client>, dest: string | ServerSet, options?: ThriftMuxClientOptions): Client & ClientControl {
    return new ThriftMuxClientBuilder(service, options).build(dest);
  },
  newBuilder<Client>(service: ServiceDesc<Client>, options?: ThriftMuxClientOptions): ThriftMuxClientBuilder<Client> {
    return new ThriftMuxClientBuilder(service, options);
  },
  serve<Handler extends object>(service: ServiceDesc<unknown, Handler>, handler: Handler, options?: ThriftMuxServerOptions): Promise<ThriftMuxServer> {
    return serveThriftMux(service, handler, options);
  },
};

export { ThriftMuxClientBuilder, thriftMuxClassifier, thriftMuxParts, THRIFTMUX_DEFAULT_POOL, type ThriftMuxClientOptions } from './client.js';
export { serveThriftMux, type ThriftMuxServer, type ThriftMuxServerOptions } from './server.js';
export { MuxServerRequest, ThriftMuxServerCodec } from './server-codec.js';
export { MuxTrace, MuxRetries, MuxClientId, ForwardedContexts, type TraceId } from '../mux/contexts.js';
export { MuxNackError, MuxServerError } from '../mux/errors.js';
export { receivedValue } from './values.js';
export { T, TType, MessageType, ThriftException, ThriftApplicationError, TApplicationExceptionType, loadIdl, loadIdlSync } from '../thrift/index.js';
export { TlsError, type TlsFailure, type TlsClientOptions, type TlsServerOptions } from '../../transport/tls.js';
export type { ServiceDesc, CallOptions, ServerCallContext, ClientControl, ThriftCall } from '../thrift/index.js';
export * from '../../client/extend.js';
export type { MuxReply, MuxRequest } from '../mux/request.js';
