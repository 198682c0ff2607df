import { optionKeys, refuseUnknownKeys } from '../../core/option-keys.js';
import type { ContextKey } from '../../core/context-key.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { ServerAnnouncements, type AnnounceOptions, type Announcement } from '../../discovery/announce.js';
import type { Stack } from '../../core/stack.js';
import type { ServerRequest } from '../../server/codec.js';
import { ServerDispatcher } from '../../server/dispatcher.js';
import type { HandlerFn } from '../../server/filters/handler.js';
import type { Logger } from '../../core/logger.js';
import { loggerHook, logToStderr } from '../../server/filters/logging.js';
import { CONNECTION_LIMIT_KEYS, type ConnectionLimits, listenStream, type StreamServer } from '../../server/listen.js';
import type { ErrorHook } from '../../server/safe.js';
import { serverStack, type ServerService } from '../../server/stack.js';
import { StatsRegistry, type StatsScope } from '../../stats/registry.js';
import type { Connection } from '../../transport/index.js';
import type { TlsServerOptions } from '../../transport/tls.js';
import type { ServiceDesc } from './descriptors.js';
import { thriftFraming, type ThriftTransportKind } from './framing.js';
import { checkHeaderLimits, type HeaderLimits } from './header.js';
import type { ServiceRoutes } from './multiplexed.js';
import type { DecodeLimits } from './protocol.js';
import { makeProtocol, type ThriftProtocolKind } from './protocols.js';
import { ThriftServerCodec, type ThriftServerRequest } from './server-codec.js';

export interface ThriftServerOptions extends ConnectionLimits {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: a free port, read it back from `server.port`). */
  port?: number;
  protocol?: ThriftProtocolKind;
  transport?: ThriftTransportKind;
  /** Largest frame accepted or sent (default 16 MiB). */
  maxFrameSize?: number;
  /** Decoder limits: nesting, string and container sizes, the decode budget (docs/thrift.md). */
  decodeLimits?: Partial<DecodeLimits>;
  /** Handlers running at once per connection before its reading pauses (default 128). */
  maxConcurrentPerConnection?: number;
  /**
   * Handlers running at once in the whole server (oneway included); past it a request is answered
   * at once with an overload rejection (see isOverloadRejection). Default: no limit.
   */
  maxConcurrent?: number;
  /**
   * Each request must be answered this many ms after it arrived (default none): then its
   * `ctx.signal` aborts and the caller gets a timeout error; the handler's late result is dropped.
   */
  requestTimeout?: number;
  /** Run handlers inside an ambient context so nested client calls inherit the deadline (default true). */
  propagateContext?: boolean;
  /**
   * Serve Finagle's TTwitter upgrade on framed connections (default true; buffered servers always
   * decline it): `false` answers `__can__finagle__trace__v3__` with UNKNOWN_METHOD, so Finagle
   * clients stay plain.
   */
  ttwitter?: boolean;
  /**
   * Put handler error messages into INTERNAL_ERROR replies (default false: clients get
   * `Internal error processing <method>`, and the message goes to `onError` only, as Apache does).
   */
  exposeErrors?: boolean;
  /**
   * Handler crashes, protocol errors and failed connections. Default: one line each on stderr
   * (console.error); `false` silences them. A hook that throws is ignored.
   */
  onError?: ErrorHook | false;
  /**
   * Where the default `onError` writes (pino's signature; default: the process-wide default
   * logger, one line per event on stderr, rate-limited). `false` silences it.
   */
  logger?: Logger | false;
  /** Registry for the server's stats (scope `server=<service name>`; default: a registry of its own). */
  stats?: StatsRegistry;
  /** Limits on a THeader call's info headers (defaults: 64 headers, 16 KiB of keys and values, zlib inflating to at most maxFrameSize). */
  headerLimits?: Partial<HeaderLimits>;
  /** Context keys decoded from a THeader call's info headers of their wire name (docs/thrift.md); the rest arrive as ThriftHeaders. */
  contextKeys?: readonly ContextKey<unknown>[];
  /** Serve TLS; with `requestCert`, mTLS (docs/tls.md). */
  tls?: TlsServerOptions;
}

export interface ThriftServer {
  readonly host: string;
  readonly port: number;
  /** Connections open now. */
  readonly connections: number;
  /**
   * Where the server counts requests, outcomes by code, in_flight and latency_ms, the
   * `connections` gauge, and the connections its limits closed or refused (docs/server.md).
   */
  readonly stats: StatsRegistry;
  /** The server's roles, in order (`stack.describe()` prints them). */
  readonly stack: Stack;
  /**
   * Registers this server in a serverset (`zk://zk1:2181/services/users`) until it closes; `close`
   * removes the member first, before draining. Resolves once the member exists.
   */
  announce(uri: string, options?: AnnounceOptions): Promise<Announcement>;
  /**
   * A TLS server's new certificate/key/CA for new connections (open ones keep theirs): `options`
   * replaces the TLS material, or without it the configured files are read again. Throws
   * InvalidArgumentError, serving the old certificate on, when the new one does not load.
   */
  reloadTls(options?: TlsServerOptions): void;
  /** Stops accepting, lets running handlers reply (bounded by `graceMs`, default 5000), then closes. */
  close(graceMs?: number): Promise<void>;
}

/** The server-stack options Thrift and ThriftMux share. */
export type ThriftStackOptions = Pick<ThriftServerOptions, 'requestTimeout' | 'maxConcurrent' | 'onError' | 'logger' | 'exposeErrors' | 'propagateContext' | 'stats'>;

/**
 * The server stack for a Thrift service (plain or inside Mux): the handler's functions by method
 * name (every IDL method must have one), stats under `server=<service name>`, the error hook.
 */
export function thriftServerStack<Req extends ServerRequest>(
  service: ServiceDesc<unknown, object>,
  handler: object,
  options: ThriftStackOptions,
  isDeclared: (req: Req, err: unknown) => boolean,
): { stack: Stack; stats: StatsRegistry; scope: StatsScope; onError: ErrorHook | undefined } {
  const methods = new Map<string, HandlerFn>();
  for (const name of Object.keys(service.methods)) {
    const fn = (handler as Record<string, unknown>)[name];
    if (typeof fn !== 'function') throw new InvalidArgumentError(`handler for ${service.name} has no function '${name}'`);
    methods.set(name, fn as HandlerFn);
  }
  const logger = options.logger;
  const byDefault = logger === false ? undefined : logger === undefined ? logToStderr : loggerHook(logger);
  const onError = options.onError === false ? undefined : (options.onError ?? byDefault);
  const stats = options.stats ?? new StatsRegistry();
  const scope = stats.scope('server', service.name);
  const stack = serverStack<Req>({
    serviceName: service.name,
    target: handler,
    methods,
    stats: scope,
    requestTimeout: options.requestTimeout,
    maxConcurrent: options.maxConcurrent,
    onError,
    defaultLogger: options.onError === undefined,
    isDeclared,
    exposeErrors: options.exposeErrors ?? false,
    propagateContext: options.propagateContext ?? true,
  });
  return { stack, stats, scope, onError };
}

/**
 * Serves `handler` (an object with one method per IDL method) over Thrift. THeader calls are
 * answered on either transport (header.ts). `routes`: a multiplexed server (multiplexed-server.ts).
 */
const THRIFT_SERVER_KEYS = optionKeys<ThriftServerOptions>({
  ...CONNECTION_LIMIT_KEYS,
  host: true,
  port: true,
  protocol: true,
  transport: true,
  maxFrameSize: true,
  decodeLimits: true,
  maxConcurrentPerConnection: true,
  maxConcurrent: true,
  requestTimeout: true,
  propagateContext: true,
  ttwitter: true,
  exposeErrors: true,
  onError: true,
  logger: true,
  stats: true,
  headerLimits: true,
  contextKeys: true,
  tls: true,
});

export async function serveThrift<Handler extends object>(service: ServiceDesc<unknown, Handler>, handler: Handler, options: ThriftServerOptions = {}, routes?: ServiceRoutes): Promise<ThriftServer> {
  refuseUnknownKeys(options, THRIFT_SERVER_KEYS, routes === undefined ? 'Thrift.serve' : 'Thrift.serveMultiplexed');
  checkLimit('maxConcurrentPerConnection', options.maxConcurrentPerConnection);
  checkLimit('maxConcurrent', options.maxConcurrent);
  checkLimit('requestTimeout', options.requestTimeout);
  const protocol = makeProtocol(options.protocol ?? 'binary', options.maxFrameSize, options.decodeLimits);
  checkHeaderLimits(options.headerLimits);
  const transport = options.transport ?? 'framed';
  const codec = new ThriftServerCodec(protocol, service as ServiceDesc, {
    routes,
    headerAt: transport === 'buffered' ? 4 : 0,
    headerLimits: options.headerLimits,
    contextKeys: options.contextKeys,
    maxFrameSize: options.maxFrameSize,
    decodeLimits: options.decodeLimits,
    ...(options.ttwitter === false ? { ttwitter: false } : {}),
  });
  const { stack, stats, scope, onError } = thriftServerStack<ThriftServerRequest>(service, handler, options, (req, err) => codec.isDeclared(req, err));
  const dispatcher = new ServerDispatcher<Connection, ThriftServerRequest>(codec, stack.build() as unknown as ServerService<ThriftServerRequest>, {
    maxConcurrentPerConnection: options.maxConcurrentPerConnection ?? 128,
    onError,
  });
  const listening = await listenStream(dispatcher, {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    framing: thriftFraming(transport, protocol, options.maxFrameSize ?? 16 * 1024 * 1024),
    maxFrameSize: options.maxFrameSize ?? 16 * 1024 * 1024,
    maxConnections: options.maxConnections,
    idleTimeoutMs: options.idleTimeoutMs,
    frameTimeoutMs: options.frameTimeoutMs,
    frameBudget: options.frameBudget,
    stats: scope,
    tls: options.tls,
  });
  return thriftServerHandle(listening, stats, stack);
}

/**
 * What serveThrift and serveThriftMux return: the listener, its stats and stack, announcing into
 * serversets, and a close that leaves every serverset first, then drains.
 */
export function thriftServerHandle(listening: StreamServer, stats: StatsRegistry, stack: Stack): ThriftServer {
  const announcements = new ServerAnnouncements(listening);
  return {
    host: listening.host,
    port: listening.port,
    get connections() {
      return listening.connections;
    },
    stats,
    stack,
    announce: (uri, o) => announcements.announce(uri, o),
    reloadTls: (o) => listening.reloadTls(o),
    close: async (graceMs) => {
      await announcements.withdrawAll(); // leave the serverset first, then drain
      await listening.close(graceMs);
    },
  };
}

function checkLimit(name: string, v: number | undefined): void {
  if (v !== undefined && !(typeof v === 'number' && v > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got ${String(v)}`);
}
