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

/** How long after the grace the listener destroys sockets the dispatcher did not close. */
const LISTENER_BACKSTOP_MS = 1000;

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
      // Stop accepting now. The dispatcher aborts what still runs at the grace and closes its
      // sessions itself (handlers see a ClosedError); the listener's own socket destroy is only a
      // backstop after that, so that it never races the dispatcher's abort.
      const closing = listener.close(graceMs + LISTENER_BACKSTOP_MS);
      await dispatcher.close(graceMs);
      await closing;
    },
  };
}
