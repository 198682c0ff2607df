import { Client, errors as undiciErrors } from 'undici';
import {
  ConnectError,
  ConnectionClosedError,
  ConnectTimeoutError,
  FrameTooLargeError,
  ProtocolError,
  TimeoutError,
  type ScalesError,
} from '../../core/errors.js';
import type { CallContext, Status } from '../../core/service.js';
import { HttpResponse, type HttpRequest } from './messages.js';

export interface HttpSessionOptions {
  /** Connect timeout in ms (default 5000). */
  connectTimeout?: number;
  /** Largest response body accepted, in bytes (default 16 MiB). */
  maxResponseBytes?: number;
  /** Idle keep-alive before the connection is dropped, in ms (default 4000, as undici). */
  keepAliveTimeout?: number;
}

/**
 * One HTTP/1.1 connection to one node (an undici `Client` with pipelining 1): one call at a
 * time, which is what the watermark pool expects of it. Failures are mapped to ScalesErrors so
 * the layers above can tell "never written" (connect failures: safe to retry) from the rest.
 */
export class HttpSession {
  private readonly client: Client;
  private inFlight = 0;
  private readonly maxResponseBytes: number;
  private dead = false;

  constructor(
    readonly endpoint: string,
    origin: string,
    options: HttpSessionOptions = {},
  ) {
    this.maxResponseBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
    this.client = new Client(origin, {
      pipelining: 1,
      connect: { timeout: options.connectTimeout ?? 5000 },
      keepAliveTimeout: options.keepAliveTimeout ?? 4000,
      // Deadlines are ours (the timeout layer); undici's own 300 s timers stay as a backstop.
    });
  }

  get load(): number {
    return this.inFlight;
  }

  get status(): Status {
    if (this.dead || this.client.closed || this.client.destroyed) return 'closed';
    return 'open';
  }

  async call(req: HttpRequest, ctx: CallContext): Promise<HttpResponse> {
    if (ctx.cancelled !== undefined) throw ctx.cancelled;
    const abort = new AbortController();
    ctx.onCancel((reason) => abort.abort(reason));
    this.inFlight++;
    try {
      const res = await this.client.request({
        method: req.method,
        path: req.path,
        headers: req.headers,
        body: req.body,
        signal: abort.signal,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > this.maxResponseBytes) {
          res.body.destroy();
          throw new FrameTooLargeError(size, this.maxResponseBytes, { endpoint: this.endpoint });
        }
        chunks.push(chunk);
      }
      return new HttpResponse(res.statusCode, res.headers, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    } catch (err) {
      throw this.mapError(err, ctx);
    } finally {
      this.inFlight--;
      ctx.onCancel(undefined);
    }
  }

  close(): Promise<void> {
    this.dead = true;
    return this.client.close().catch(() => this.client.destroy());
  }

  private mapError(err: unknown, ctx: CallContext): ScalesError | unknown {
    if (ctx.cancelled !== undefined) return ctx.cancelled;
    const endpoint = this.endpoint;
    if (err instanceof FrameTooLargeError) return err;
    if (err instanceof undiciErrors.ConnectTimeoutError) return new ConnectTimeoutError(`connect to ${endpoint} timed out`, { endpoint, cause: err });
    const code = (err as { code?: string })?.code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EAI_AGAIN') {
      return new ConnectError(`connect to ${endpoint} failed: ${code}`, { endpoint, cause: err });
    }
    if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
      return new TimeoutError(`HTTP ${endpoint}: ${(err as Error).message}`, { endpoint, cause: err });
    }
    if (err instanceof undiciErrors.SocketError || code === 'ECONNRESET' || code === 'EPIPE') {
      return new ConnectionClosedError(`connection to ${endpoint} closed: ${(err as Error).message}`, { endpoint, cause: err });
    }
    if (err instanceof undiciErrors.UndiciError) return new ProtocolError(`HTTP ${endpoint}: ${(err as Error).message}`, { endpoint, cause: err });
    return err;
  }
}
