import net from 'node:net';
import { AddressInUseError, describeValue, InvalidArgumentError } from '../core/errors.js';

export interface TcpListenOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: a free port, read it back from `port`). */
  port?: number;
  backlog?: number;
  /**
   * Sockets open at once (default: no limit). A connection accepted past it is closed at once,
   * before `onConnection` sees it, and `onRefused` is called.
   */
  maxConnections?: number;
  /** A connection was refused for `maxConnections` (called per refusal: count, do not log). */
  onRefused?: () => void;
  /** Each accepted socket: half-open allowed, Nagle off. Wrap it in a Connection. */
  onConnection: (socket: net.Socket) => void;
  /** Accept failures (EMFILE...); the listener keeps going. Default: ignored. */
  onError?: (err: Error) => void;
}

export interface TcpListener {
  readonly host: string;
  readonly port: number;
  /** Accepted sockets still open. */
  readonly connections: number;
  /**
   * Stops accepting; resolves once every accepted socket has closed. Sockets still open after
   * `graceMs` (default 5000) are destroyed. Closing the connections gracefully is the caller's job.
   */
  close(graceMs?: number): Promise<void>;
}

/** Listens on TCP; rejects with InvalidArgumentError when the address cannot be bound or maxConnections is not a positive integer. */
export function listenTcp(opts: TcpListenOptions): Promise<TcpListener> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  // Node would throw a bare RangeError (or take '8080' as a pipe name): refuse it typed, naming the value.
  if (!(typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 65535)) {
    return Promise.reject(new InvalidArgumentError(`port must be an integer from 0 to 65535 (0: any free port), got ${describeValue(port)}`));
  }
  const sockets = new Set<net.Socket>();
  let onEmpty: (() => void) | undefined;
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) onEmpty?.();
    });
    opts.onConnection(socket);
  });
  if (opts.maxConnections !== undefined && opts.maxConnections !== Infinity) {
    if (!(Number.isInteger(opts.maxConnections) && opts.maxConnections > 0)) {
      return Promise.reject(new InvalidArgumentError(`maxConnections must be a positive integer, got ${String(opts.maxConnections)}`));
    }
    // Node closes the accepted handle itself before making a socket of it: nothing else to free.
    server.maxConnections = opts.maxConnections;
    const onRefused = opts.onRefused;
    if (onRefused !== undefined) server.on('drop', () => onRefused());
  }
  let closing: Promise<void> | undefined;
  return new Promise<TcpListener>((resolve, reject) => {
    const onListenError = (err: NodeJS.ErrnoException): void => {
      const where = `${host}:${port}`;
      if (err.code === 'EADDRINUSE')
        reject(new AddressInUseError(`cannot listen on ${where}: the address is in use (EADDRINUSE): another process, or another server of this one, listens there`, { endpoint: where, cause: err }));
      else reject(new InvalidArgumentError(`cannot listen on ${where}: ${err.code ?? err.message}`, { endpoint: where, cause: err }));
    };
    server.once('error', onListenError);
    server.listen({ host, port, backlog: opts.backlog }, () => {
      server.removeListener('error', onListenError);
      server.on('error', (err) => opts.onError?.(err));
      const addr = server.address() as net.AddressInfo;
      resolve({
        host: addr.address,
        port: addr.port,
        get connections() {
          return sockets.size;
        },
        close(graceMs = 5000) {
          closing ??= new Promise<void>((done) => {
            const timer = setTimeout(() => {
              for (const s of sockets) s.destroy();
            }, graceMs);
            timer.unref();
            // The server's own close callback can run before our sockets' 'close' listeners.
            let serverClosed = false;
            const finish = (): void => {
              if (!serverClosed || sockets.size > 0) return;
              clearTimeout(timer);
              done();
            };
            onEmpty = finish;
            server.close(() => {
              serverClosed = true;
              finish();
            });
          });
          return closing;
        },
      });
    });
  });
}
