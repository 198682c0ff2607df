import net from 'node:net';
import { CancelledError, ConnectError, ConnectTimeoutError, type ScalesError } from '../core/errors.js';
import type { TlsClientConfig } from './tls.js';

export interface ConnectOptions {
  /** Default 5000. Nothing waits forever: the socket is destroyed when it passes. */
  connectTimeoutMs?: number;
  signal?: AbortSignal;
  /** Disable Nagle (default true): writes are already batched per event-loop turn. */
  noDelay?: boolean;
  /** Keep our side open after the peer's FIN (default true; our Connection handles half-close itself). */
  allowHalfOpen?: boolean;
  /** Run a TLS handshake over the socket (within the same connect timeout); failures are TlsErrors. */
  tls?: TlsClientConfig;
}

/** `host:port`, with brackets around IPv6 literals. */
export function formatEndpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Opens a TCP socket (half-open allowed, so a peer's FIN does not close our side), and with
 * `opts.tls` secures it. Rejects with ConnectError (refused, unreachable, DNS), TlsError,
 * ConnectTimeoutError or CancelledError, all naming `endpoint`; on failure the socket is destroyed.
 */
export async function connectSocket(host: string, port: number, endpoint: string, opts: ConnectOptions = {}): Promise<net.Socket> {
  if (opts.tls === undefined) return connectTcp(host, port, endpoint, opts);
  const started = Date.now();
  const timeoutMs = opts.connectTimeoutMs ?? 5000;
  const raw = await connectTcp(host, port, endpoint, opts);
  return opts.tls.secure(raw, host, endpoint, timeoutMs - (Date.now() - started), opts.signal);
}

function connectTcp(host: string, port: number, endpoint: string, opts: ConnectOptions): Promise<net.Socket> {
  const signal = opts.signal;
  if (signal?.aborted) {
    return Promise.reject(new CancelledError(`connect to ${endpoint} cancelled`, { endpoint, cause: signal.reason }));
  }
  const timeoutMs = opts.connectTimeoutMs ?? 5000;
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: opts.allowHalfOpen ?? true, noDelay: opts.noDelay ?? true });
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('connect', onConnect);
      socket.removeListener('error', onError);
    };
    const fail = (err: ScalesError): void => {
      cleanup();
      socket.on('error', ignore); // a late error from the dying socket must not crash the process
      socket.destroy();
      reject(err);
    };
    const onConnect = (): void => {
      cleanup();
      resolve(socket);
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'ETIMEDOUT') fail(new ConnectTimeoutError(`connect to ${endpoint} timed out (${err.code})`, { endpoint, cause: err }));
      // The code (ECONNREFUSED) says it all; node's message repeats the address we already name.
      else fail(new ConnectError(`cannot connect to ${endpoint}: ${err.code ?? err.message}`, { endpoint, cause: err }));
    };
    const onAbort = (): void => fail(new CancelledError(`connect to ${endpoint} cancelled`, { endpoint, cause: signal?.reason }));
    const timer = setTimeout(() => fail(new ConnectTimeoutError(`connect to ${endpoint} timed out after ${timeoutMs} ms`, { endpoint })), timeoutMs);
    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function ignore(): void {}
