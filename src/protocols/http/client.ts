import { tcpAddress } from '../../discovery/endpoint.js';
import { clientTls, type TlsClientOptions } from '../../transport/tls.js';
import { classifier } from '../../core/classify.js';
import { ClientBuilderBase, optionKeys, STACK_OPTION_KEYS, type StackEdit } from '../../client/builder.js';
import type { ClientStackOptions, PoolConfig } from '../../client/options.js';
import { clientStack, type ProtocolParts } from '../../client/stack.js';
import { newCallContext, type CallOptions } from '../../core/context.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { Service } from '../../core/service.js';
import type { ClientStack } from '../../client/client-stack.js';
import type { StackView } from '../../core/stack.js';
import { resolveDestination } from '../../discovery/resolve.js';
import type { ServerSet } from '../../discovery/serverset.js';
import type { StatsRegistry } from '../../stats/registry.js';
import { HttpResponse, type HttpBody, type HttpMethod, type HttpRequest } from './messages.js';
import { connectHttp } from './session.js';

export interface HttpClientOptions extends ClientStackOptions {
  /** Largest response body accepted, in bytes (default 16 MiB); more fails with FrameTooLargeError. */
  maxResponseBytes?: number;
  /** Idle time after which a kept-alive connection is closed, in ms (default 4000). */
  keepAliveTimeout?: number;
  /**
   * Longest one exchange may take, from sending the request to the last byte of the body, in ms
   * (default 60000), whatever the call's own timeout: a server trickling its body (one byte now
   * and then defeats undici's per-chunk timer) then fails the call with TimeoutError.
   */
  responseTimeout?: number;
  /** Headers sent with every request (per-call headers win). */
  headers?: Readonly<Record<string, string>>;
  /** TLS options for `https://` (and `tls://`) destinations: CA, client certificate, servername (docs/tls.md). */
  tls?: TlsClientOptions;
}

/** Per-call options: the usual deadline/timeout/signal, plus headers. */
export interface HttpCallOptions extends CallOptions {
  headers?: Readonly<Record<string, string>>;
}

/** A body: bytes or text as is; any other value is sent as JSON. */
export type HttpRequestBody = HttpBody | Record<string, unknown> | readonly unknown[] | number | boolean | null;

/** HTTP's default pool: one call per connection (HTTP/1.1), up to 8 connections per node. */
export const HTTP_DEFAULT_POOL: PoolConfig = { kind: 'watermark' };

/** RFC 9110 §9.2.2: methods whose repetition has the same effect (safe to retry after a lost connection). */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Any status is a response, but a 5xx is the server failing: counted as a failure (code HTTP_5XX) by stats and failure accrual. */
const HTTP_CLASSIFIER = classifier({
  reply: (rep) => (rep instanceof HttpResponse && rep.status >= 500 ? 'failure' : 'success'),
  replyCode: (rep) => (rep instanceof HttpResponse && rep.status >= 500 ? 'HTTP_5XX' : undefined),
});

/**
 * A load-balanced HTTP/1.1 client: `await client.get('/users/1', { timeout: 200 })`.
 * Every status is a response (check `res.ok`); 5xx responses count as failures in stats and
 * failure accrual, so a node answering 503 is avoided like one that refuses connections.
 */
export class HttpClient {
  private readonly defaultHeaders: Readonly<Record<string, string>> | undefined;

  /** @internal use Http.newClient / Http.newBuilder */
  constructor(
    private readonly service: Service<HttpRequest, HttpResponse>,
    readonly $stack: StackView,
    readonly $stats: StatsRegistry,
    private readonly defaultTimeout: number | undefined,
    options: HttpClientOptions,
    private readonly onClose: () => void,
  ) {
    this.defaultHeaders = options.headers;
  }

  get(path: string, options?: HttpCallOptions): Promise<HttpResponse> {
    return this.request('GET', path, undefined, options);
  }
  head(path: string, options?: HttpCallOptions): Promise<HttpResponse> {
    return this.request('HEAD', path, undefined, options);
  }
  options(path: string, options?: HttpCallOptions): Promise<HttpResponse> {
    return this.request('OPTIONS', path, undefined, options);
  }
  delete(path: string, options?: HttpCallOptions): Promise<HttpResponse> {
    return this.request('DELETE', path, undefined, options);
  }
  post(path: string, body?: HttpRequestBody, options?: HttpCallOptions): Promise<HttpResponse> {
    return this.request('POST', path, body, options);
  }
  put(path: string, body?: HttpRequestBody, options?: HttpCallOptions): Promise<HttpResponse> {
    return this.request('PUT', path, body, options);
  }
  patch(path: string, body?: HttpRequestBody, options?: HttpCallOptions): Promise<HttpResponse> {
    return this.request('PATCH', path, body, options);
  }

  /** Any method; `path` must start with '/'. */
  request(method: HttpMethod, path: string, body?: HttpRequestBody, options?: HttpCallOptions): Promise<HttpResponse> {
    try {
      if (typeof path !== 'string' || !path.startsWith('/')) throw new InvalidArgumentError(`HTTP path must start with '/', got ${JSON.stringify(path)}`);
      const ctx = newCallContext(method, options, this.defaultTimeout);
      let headers = this.defaultHeaders === undefined ? options?.headers : { ...this.defaultHeaders, ...options?.headers };
      let payload: HttpBody | undefined;
      if (body === undefined || typeof body === 'string' || body instanceof Uint8Array) payload = body;
      else {
        payload = toJson(body);
        if (!hasHeader(headers, 'content-type')) headers = { ...headers, 'content-type': 'application/json' };
      }
      return this.service.call({ method, path, headers, body: payload }, ctx);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async $close(): Promise<void> {
    await this.service.close();
    this.onClose();
  }
}

/** A body that is not bytes or text is sent as JSON; one JSON cannot encode (BigInt, cycles) is bad input. */
function toJson(body: unknown): string {
  try {
    return JSON.stringify(body);
  } catch (err) {
    throw new InvalidArgumentError(`request body cannot be sent as JSON: ${(err as Error).message}`, { cause: err });
  }
}

function hasHeader(headers: Readonly<Record<string, string>> | undefined, name: string): boolean {
  if (headers === undefined) return false;
  for (const k of Object.keys(headers)) if (k.toLowerCase() === name) return true;
  return false;
}

const HTTP_OPTION_KEYS = optionKeys<HttpClientOptions>({ ...STACK_OPTION_KEYS, maxResponseBytes: true, keepAliveTimeout: true, responseTimeout: true, headers: true, tls: true });

/** `Http.newBuilder().withTimeout(200).withLoadBalancer('p2c-ewma').build('tcp://h1:80,h2:80')`. */
export class HttpClientBuilder extends ClientBuilderBase<HttpClientBuilder, HttpClientOptions> {
  constructor(options: Readonly<HttpClientOptions> = {}, stackEdits: readonly StackEdit[] = []) {
    super(options, stackEdits, { optionKeys: HTTP_OPTION_KEYS });
  }

  protected copy(options: HttpClientOptions, stackEdits: readonly StackEdit[]): HttpClientBuilder {
    return new HttpClientBuilder(options, stackEdits);
  }

  withMaxResponseBytes(maxResponseBytes: number): HttpClientBuilder {
    return this.with({ maxResponseBytes });
  }
  withHeaders(headers: Readonly<Record<string, string>>): HttpClientBuilder {
    return this.with({ headers });
  }
  /** TLS options (CA, client certificate for mTLS, servername) for an `https://` destination (docs/tls.md). */
  withTls(tls: TlsClientOptions): HttpClientBuilder {
    return this.with({ tls });
  }

  stack(dest: string | ServerSet): ClientStack {
    return this.make(dest).stack;
  }

  build(dest: string | ServerSet): HttpClient {
    const { stack, stats, serverSet, owned } = this.make(dest);
    return new HttpClient(stack.build<HttpRequest, HttpResponse>(), stack, stats, this.options.timeout, this.options, () => {
      if (owned) serverSet.close();
    });
  }

  private make(dest: string | ServerSet): { stack: ClientStack; stats: StatsRegistry; serverSet: ServerSet; owned: boolean } {
    const o = this.options;
    for (const name of ['maxResponseBytes', 'keepAliveTimeout', 'responseTimeout'] as const) {
      const v = o[name];
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got ${String(v)}`);
    }
    const { serverSet, label, owned } = resolveDestination(httpDestination(dest, o.tls !== undefined));
    const built = clientStack(httpParts(o), o, serverSet, `http@${label}`);
    return { stack: this.applyEdits(built.stack), stats: built.stats, serverSet, owned };
  }
}

/**
 * `http://h[:p][,h[:p]]` is `tcp://` and `https://...` is `tls://` (ports 80 and 443 by default);
 * other destinations pass as they are. A destination names servers: a path belongs in the call.
 */
export function httpDestination(dest: string | ServerSet, hasTlsOptions: boolean): string | ServerSet {
  if (typeof dest !== 'string') return dest;
  const m = /^(https?):\/\/(.*)$/i.exec(dest.trim());
  if (m === null) return dest;
  const secure = m[1]!.toLowerCase() === 'https';
  if (!secure && hasTlsOptions) throw new InvalidArgumentError(`'${dest}' is plain HTTP, but TLS options are set: use https://`);
  const rest = m[2]!.replace(/\/$/, '');
  if (rest.includes('/') || rest.includes('?')) {
    throw new InvalidArgumentError(`destination '${dest}' has a path: a destination names servers (${m[1]}://host:port), give the path to each call`);
  }
  const hosts = rest
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '')
    .map((h) => (/:\d+$/.test(h) && !/^\[[^\]]*\]$/.test(h) ? h : `${h}:${secure ? 443 : 80}`));
  return `${secure ? 'tls' : 'tcp'}://${hosts.join(',')}`;
}

function httpParts(o: HttpClientOptions): ProtocolParts<HttpRequest, HttpResponse> {
  const sessionOptions = { maxResponseBytes: o.maxResponseBytes, keepAliveTimeout: o.keepAliveTimeout, responseTimeout: o.responseTimeout };
  const tlsFor = clientTls(o.tls);
  return {
    connect: (endpoint, connectTimeout) => {
      const a = tcpAddress(endpoint, 'HTTP over TCP');
      return connectHttp(a, connectTimeout, sessionOptions, tlsFor(a));
    },
    transportDescription: `${o.tls === undefined ? 'TCP' : 'TLS'}, HTTP/1.1 (undici), one request per connection at a time`,
    defaultPool: HTTP_DEFAULT_POOL,
    multiplexed: false,
    classifier: HTTP_CLASSIFIER,
    idempotentByDefault: (method) => IDEMPOTENT_METHODS.has(method),
  };
}
