import type net from 'node:net';
import { InvalidArgumentError } from '../../core/errors.js';
import { Connection, listenTcp } from '../../transport/index.js';
import type { ServiceDesc } from './descriptors.js';
import { thriftFraming, type ThriftTransportKind } from './framing.js';
import { makeProtocol, type ThriftProtocolKind } from './protocols.js';
import { ServerConnection } from './server-connection.js';

export interface ThriftServerOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: a free port, read it back from `server.port`). */
  port?: number;
  protocol?: ThriftProtocolKind;
  transport?: ThriftTransportKind;
  /** Largest frame accepted or sent (default 16 MiB). */
  maxFrameSize?: number;
  /** Handlers running at once per connection before reading pauses (default 128). */
  maxConcurrentPerConnection?: number;
  /** Deadline given to each request, in ms after it arrived (default none). */
  requestTimeout?: number;
  propagateContext?: boolean;
  exposeErrors?: boolean;
  onError?: (err: unknown, where: string) => void;
}

export interface ThriftServer {
  readonly host: string;
  readonly port: number;
  /** Connections open now. */
  readonly connections: number;
  /** Stops accepting, lets running handlers reply (bounded by `graceMs`, default 5000), then closes. */
  close(graceMs?: number): Promise<void>;
}

/** Serves `handler` (an object with one method per IDL method) over Thrift. */
export async function serveThrift<Handler extends object>(service: ServiceDesc<unknown, Handler>, handler: Handler, options: ThriftServerOptions = {}): Promise<ThriftServer> {
  for (const name of Object.keys(service.methods)) {
    if (typeof (handler as Record<string, unknown>)[name] !== 'function') {
      throw new InvalidArgumentError(`handler for ${service.name} has no function '${name}'`);
    }
  }
  const protocol = makeProtocol(options.protocol ?? 'binary', options.maxFrameSize);
  const framing = thriftFraming(options.transport ?? 'framed', protocol);
  const maxFrameSize = options.maxFrameSize ?? 16 * 1024 * 1024;
  const connOptions = {
    maxConcurrentPerConnection: options.maxConcurrentPerConnection ?? 128,
    requestTimeout: options.requestTimeout,
    propagateContext: options.propagateContext ?? true,
    exposeErrors: options.exposeErrors ?? true,
    onError: options.onError,
  };
  const live = new Set<ServerConnection>();
  const listener = await listenTcp({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    onConnection: (socket: net.Socket) => {
      const conn = new Connection(socket, { framing, maxFrameSize, endpoint: `${socket.remoteAddress}:${socket.remotePort}` });
      const served: ServerConnection = new ServerConnection(conn, protocol, service as ServiceDesc, handler as Record<string, (...a: unknown[]) => unknown>, connOptions, () => live.delete(served));
      live.add(served);
    },
  });
  return {
    host: listener.host,
    port: listener.port,
    get connections() {
      return live.size;
    },
    async close(graceMs = 5000) {
      const closing = listener.close(graceMs);
      await Promise.race([Promise.all([...live].map((c) => c.drain())), new Promise((r) => setTimeout(r, graceMs).unref())]);
      for (const c of live) c.conn.close();
      await closing;
    },
  };
}
