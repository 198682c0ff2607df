/**
 * `scales-rpc/zerorpc`: ZeroRPC (protocol v3, wire-compatible with zerorpc-python) on the Scales
 * stacks. Speaks ZMTP itself over tcp://; the npm package `zeromq@6` (an optional peer
 * dependency) is loaded only for CURVE, ipc://, inproc://, Push/Pull, Pub/Sub or `transport: 'zeromq'`.
 *
 *   const server = await ZeroRpc.serve(new Calc(), { bind: 'tcp://127.0.0.1:4242' });
 *   const calc = ZeroRpc.newClient<Calc>('tcp://127.0.0.1:4242');
 *   await calc.add(1, 2);
 */
import type { ServerSet } from '../../discovery/serverset.js';
import { ZeroRpcClientBuilder, type ZeroClient, type ZeroClientOptions } from './client.js';
import { publisher, puller, pusher, subscriber } from './patterns.js';
import { serveZeroRpc, type ZeroServer, type ZeroServerOptions } from './server.js';

export const ZeroRpc = {
  newClient<T = Record<string, (...args: unknown[]) => unknown>>(dest: string | ServerSet, options?: ZeroClientOptions): ZeroClient<T> {
    return new ZeroRpcClientBuilder(options).build<T>(dest);
  },
  newBuilder(options?: ZeroClientOptions): ZeroRpcClientBuilder {
    return new ZeroRpcClientBuilder(options);
  },
  serve(handler: object, options: ZeroServerOptions): Promise<ZeroServer> {
    return serveZeroRpc(handler, options);
  },
  pusher,
  puller,
  publisher,
  subscriber,
};

export { ZeroRpcClientBuilder, zeroClassifier, zeroParts, zeroDestination, DEFAULT_TIMEOUT_MS } from './client.js';
export type { ZeroClient, ZeroClientOptions, ZeroControl, ZeroMethods, ZeroResult, UntypedZeroClient } from './client.js';
export { serveZeroRpc, type ZeroServer, type ZeroServerOptions } from './server.js';
export { pusher, puller, publisher, subscriber, type OneWayClient, type OneWayOptions, type Receiver, type ReceiverOptions } from './patterns.js';
export { RemoteError, LostRemoteError } from './errors.js';
export { TraceId } from './context.js';
export { ServerFilter, serverLayer } from '../../server/filter.js';
export { withContextValue, currentContext } from '../../core/context.js';
export { createContextKey, type ContextKey } from '../../core/context-key.js';
export { NamedError } from './introspect.js';
export { method, stream, type MethodDeclaration, type MethodInfo } from './methods.js';
export { ZeroStream, STREAM_QUEUE } from './stream.js';
export { ZeroClientSession, type ZeroCall, type ZeroSessionOptions } from './session.js';
export { DEFAULT_HEARTBEAT_MS } from './heartbeat.js';
export { DEFAULT_MAX_MESSAGE_SIZE } from './msgpack.js';
export { encodeEvent, eventDecoder, idKey, MessageIds, type EventHeader, type MessageId, type ZeroEvent } from './events.js';
export { curveKeyPair, type CurveClientOptions, type CurveServerOptions, type CurveKeyPair } from './curve.js';
export type { CallOptions } from '../../core/context.js';
export * from '../../client/extend.js';
export type { ServerCallContext } from '../../core/server-context.js';
