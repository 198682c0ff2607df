import type net from 'node:net';
import { Connection, listenTcp, type Framing } from '../transport/index.js';
import type { ServerRequest } from './codec.js';
import type { ServerDispatcher } from './dispatcher.js';
import { StreamSession } from './stream-session.js';

export interface StreamServerOptions {
  host: string;
  port: number;
  framing: Framing;
  maxFrameSize: number;
}

/** A listening byte-stream server (what `serveThrift` returns, minus protocol specifics). */
export interface StreamServer {
  readonly host: string;
  readonly port: number;
  /** Connections open now. */
  readonly connections: number;
  /** Stops accepting, lets running handlers answer (bounded by `graceMs`, default 5000), then closes. */
  close(graceMs?: number): Promise<void>;
}

/** Listens on TCP and serves every accepted connection through `dispatcher` (one StreamSession each). */
export async function listenStream<Req extends ServerRequest>(dispatcher: ServerDispatcher<Connection, Req>, o: StreamServerOptions): Promise<StreamServer> {
  const listener = await listenTcp({
    host: o.host,
    port: o.port,
    onConnection: (socket: net.Socket) => {
      const conn = new Connection(socket, { framing: o.framing, maxFrameSize: o.maxFrameSize, endpoint: `${socket.remoteAddress}:${socket.remotePort}` });
      new StreamSession(dispatcher, conn, socket);
    },
  });
  return {
    host: listener.host,
    port: listener.port,
    get connections() {
      return dispatcher.sessions.size;
    },
    async close(graceMs = 5000) {
      const closing = listener.close(graceMs);
      await dispatcher.close(graceMs);
      await closing;
    },
  };
}
