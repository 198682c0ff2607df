/**
 * Listening for ThriftMux: the shared stream session, except for how it drains. The shared one
 * stops reading at once; a Mux session first sends Tdrain and keeps reading until the client's
 * Rdrain, NACKing any call the client wrote before it saw the Tdrain (so that call goes to
 * another server instead of failing with the connection), then drains as usual.
 *
 * The seam this works around: StreamSession.drain could ask the codec whether it refuses new
 * requests itself while draining (then keep reading, and wait for a codec promise) — with that,
 * this file would be `listenStream` and nothing else.
 */
import type net from 'node:net';
import type { ServerDispatcher } from '../../server/dispatcher.js';
import { StreamSession } from '../../server/stream-session.js';
import type { StreamServer } from '../../server/listen.js';
import { Connection, listenTcp } from '../../transport/index.js';
import type { ThriftMuxServerCodec, ThriftMuxServerRequest } from './server-codec.js';

/** How long a draining session waits for the client's Rdrain before it stops reading anyway. */
export const DEFAULT_DRAIN_ACK_MS = 1000;
const LISTENER_BACKSTOP_MS = 1000;

class MuxStreamSession extends StreamSession<ThriftMuxServerRequest> {
  override drain(): Promise<void> {
    // No fields of our own: the shared constructor may call drain() (a server already closing).
    const codec = this.dispatcher.codec as unknown as ThriftMuxServerCodec;
    const acked = codec.startDrain(this.out);
    if (acked === undefined) return super.drain();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, codec.drainAckMs)));
    return Promise.race([acked, bound]).then(() => {
      clearTimeout(timer);
      return super.drain();
    });
  }
}

export async function listenMux(dispatcher: ServerDispatcher<Connection, ThriftMuxServerRequest>, o: { host: string; port: number; maxFrameSize: number }): Promise<StreamServer> {
  const listener = await listenTcp({
    host: o.host,
    port: o.port,
    onConnection: (socket: net.Socket) => {
      const conn = new Connection(socket, { framing: { kind: 'length-prefixed' }, maxFrameSize: o.maxFrameSize, endpoint: `${socket.remoteAddress}:${socket.remotePort}` });
      new MuxStreamSession(dispatcher, conn, socket);
    },
  });
  return {
    host: listener.host,
    port: listener.port,
    get connections() {
      return dispatcher.sessions.size;
    },
    async close(graceMs = 5000) {
      const closing = listener.close(graceMs + LISTENER_BACKSTOP_MS);
      await dispatcher.close(graceMs);
      await closing;
    },
  };
}
