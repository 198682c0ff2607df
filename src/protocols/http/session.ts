import type net from 'node:net';
import { Client, errors as undiciErrors } from 'undici';
import { performance } from '../../core/clock.js';
import { ConnectionClosedError, FrameTooLargeError, InvalidArgumentError, ProtocolError, ScalesError, TimeoutError } from '../../core/errors.js';
import type { CallContext, Status } from '../../core/service.js';
import { endpointKey, formatAddress, type Address } from '../../discovery/endpoint.js';
import { connectSocket } from '../../transport/connect.js';
import type { TlsClientConfig } from '../../transport/tls.js';
import { HttpResponse, responseTooLarge, type HttpRequest } from './messages.js';

export interface HttpSessionOptions {
  /** Largest response body accepted, in bytes (default 16 MiB). */
  maxResponseBytes?: number;
  /** Idle keep-alive before the connection is dropped, in ms (default 4000, as undici). */
  keepAliveTimeout?: number;
  /** Longest one exchange may take, request to last body byte, in ms (default 60000). */
  responseTimeout?: number;
}

/** Default bound on one exchange: undici's timers are per chunk, so a trickled body never ends. */
export const DEFAULT_RESPONSE_TIMEOUT = 60_000;

/** Opens the TCP (with `tls`, TLS) connection, bounded by `connectTimeout`, then wraps it in an HttpSession. */
export async function connectHttp(a: Address, connectTimeout: number, options: HttpSessionOptions = {}, tls?: TlsClientConfig): Promise<HttpSession> {
  const endpoint = tls === undefined ? formatAddress(a) : endpointKey({ ...a, scheme: 'tls' });
  const socket = await connectSocket(a.host, a.port, endpoint, { connectTimeoutMs: connectTimeout, allowHalfOpen: false, tls });
  return new HttpSession(endpoint, socket, options, `${tls === undefined ? 'http' : 'https'}://${formatAddress(a)}`);
}

/**
 * One HTTP/1.1 connection to one node: an undici `Client` (pipelining 1, so one call at a time,
 * which is what the watermark pool expects) over a socket we connected ourselves. Connecting
 * here rather than inside undici lets the pool see connect failures as connect failures (and
 * back off), and makes a session exactly one TCP connection: once that socket is gone the
 * session is closed, and undici is never allowed to reconnect behind the pool's back.
 * Failures are mapped to ScalesErrors so the layers above can tell what is safe to retry.
 */
export class HttpSession {
  private readonly client: Client;
  private inFlight = 0;
  private readonly maxResponseBytes: number;
  private readonly responseTimeout: number;
  private dead = false;
  /** One timer per connection, re-armed per exchange (`refresh()` costs far less than a new timer). */
  private exchangeTimer: NodeJS.Timeout | undefined = undefined;
  private exchangeStart = 0;
  private exchangeTimedOut = false;

  constructor(
    readonly endpoint: string,
    private readonly socket: net.Socket,
    options: HttpSessionOptions = {},
    origin = `http://${endpoint}`,
  ) {
    this.maxResponseBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
    this.responseTimeout = options.responseTimeout ?? DEFAULT_RESPONSE_TIMEOUT;
    let handedOut = false;
    this.client = new Client(origin, {
      pipelining: 1,
      keepAliveTimeout: options.keepAliveTimeout ?? 4000,
      // Deadlines are ours (the timeout layer); undici's own 300 s timers stay as a backstop.
      connect: (_opts, callback) => {
        if (!handedOut && !socket.destroyed) {
          handedOut = true;
          callback(null, socket);
          return;
        }
        this.dead = true;
        callback(new ConnectionClosedError(`connection to ${endpoint} is gone`, { endpoint, unwritten: true }), null);
      },
    });
  }

  get load(): number {
    return this.inFlight;
  }

  get status(): Status {
    // The socket is destroyed (RST read) or the peer's FIN is in (it answers no more) before its
    // 'close' event, which comes only in a later loop phase: until then a pool would hand this
    // session out and the call would fail on a dead socket.
    if (this.dead || this.socket.destroyed || this.socket.readableEnded || this.client.closed || this.client.destroyed) return 'closed';
    return 'open';
  }

  async call(req: HttpRequest, ctx: CallContext): Promise<HttpResponse> {
    if (ctx.cancelled !== undefined) throw ctx.cancelled;
    // Abandoning the exchange cuts the connection (the request then fails, and mapError reports
    // the cancel). undici would do the same for an aborted HTTP/1.1 request, and this way a call
    // needs no AbortController (about a microsecond each).
    ctx.onCancel(this.cut);
    this.inFlight++;
    this.armExchangeTimer();
    try {
      const res = await this.client.request({
        method: req.method,
        path: req.path,
        headers: req.headers,
        body: req.body,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > this.maxResponseBytes) {
          res.body.destroy();
          this.dead = true; // the rest of the body is still on the wire
          throw responseTooLarge(size, this.maxResponseBytes, this.endpoint);
        }
        chunks.push(chunk);
      }
      // undici closes the socket after a HEAD (servers that send a body anyway) and on
      // `connection: close`: say so now, before the pool offers this session to the next call.
      if (req.method === 'HEAD' || /\bclose\b/i.test(String(res.headers['connection'] ?? ''))) this.dead = true;
      return new HttpResponse(res.statusCode, res.headers, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    } catch (err) {
      throw this.mapError(err, ctx);
    } finally {
      this.inFlight--;
      ctx.onCancel(undefined);
    }
  }

  private readonly cut = (): void => this.abort();

  private armExchangeTimer(): void {
    this.exchangeStart = performance.now();
    if (this.exchangeTimer === undefined) {
      this.exchangeTimer = setTimeout(exchangeTimerFired, this.responseTimeout, this);
      this.exchangeTimer.unref();
    } else {
      this.exchangeTimer.refresh();
    }
  }

  /** @internal The exchange timer fired: cut an exchange that has run past responseTimeout. */
  checkExchange(): void {
    if (this.inFlight === 0 || this.dead) return;
    const left = this.exchangeStart + this.responseTimeout - performance.now();
    if (left > 1) {
      this.exchangeTimer?.refresh(); // fired for an earlier exchange; this one started later
      return;
    }
    this.exchangeTimedOut = true;
    this.abort();
  }

  /** Destroys the connection now (an abandoned exchange left it in an unknown state). */
  abort(): void {
    this.dead = true;
    if (this.exchangeTimer !== undefined) clearTimeout(this.exchangeTimer);
    void this.client.destroy().catch(() => undefined);
    this.socket.destroy();
  }

  async close(): Promise<void> {
    this.dead = true;
    if (this.exchangeTimer !== undefined) clearTimeout(this.exchangeTimer);
    await this.client.close().catch(() => this.client.destroy());
    // undici connects lazily: a session that never carried a request never gave it the socket,
    // so closing the client leaves the socket open. Once the client is closed the socket is ours.
    this.socket.destroy();
  }

  private mapError(err: unknown, ctx: CallContext): ScalesError | unknown {
    if (ctx.cancelled !== undefined) {
      this.dead = true; // an abandoned exchange leaves the connection in an unknown state
      return ctx.cancelled;
    }
    const endpoint = this.endpoint;
    if (this.exchangeTimedOut) {
      this.exchangeTimedOut = false;
      return new TimeoutError(`HTTP ${endpoint}: no complete response within responseTimeout (${this.responseTimeout} ms)`, { endpoint, cause: err });
    }
    if (err instanceof FrameTooLargeError || err instanceof ConnectionClosedError) return err;
    if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
      return new TimeoutError(`HTTP ${endpoint}: ${(err as Error).message}`, { endpoint, cause: err });
    }
    const message = (err as Error)?.message ?? String(err);
    const code = (err as { code?: string })?.code;
    if (err instanceof undiciErrors.SocketError || code === 'ECONNRESET' || code === 'EPIPE' || err instanceof undiciErrors.ClientDestroyedError || err instanceof undiciErrors.ClientClosedError) {
      this.dead = true;
      return new ConnectionClosedError(`connection to ${endpoint} closed: ${message}`, { endpoint, cause: err });
    }
    // Refused by undici before anything was sent: the request itself is malformed.
    if (err instanceof undiciErrors.InvalidArgumentError || err instanceof undiciErrors.NotSupportedError || err instanceof undiciErrors.RequestContentLengthMismatchError) {
      return new InvalidArgumentError(`HTTP ${endpoint}: ${message}`, { endpoint, cause: err, unwritten: true });
    }
    if (err instanceof ScalesError) return err;
    // Anything else (HTTPParserError, which is not an UndiciError; the other UndiciErrors;
    // whatever a socket throws) came after the request was written, and leaves the connection
    // in an unknown state.
    this.dead = true;
    return new ProtocolError(`HTTP ${endpoint}: ${message}`, { endpoint, cause: err, unwritten: false });
  }
}

function exchangeTimerFired(s: HttpSession): void {
  s.checkExchange();
}
