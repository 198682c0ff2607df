import { optionKeys, refuseUnknownKeys } from '../../core/option-keys.js';
import type { ContextKey } from '../../core/context-key.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { ReplyHandler } from '../../core/service.js';
import type { ServerRequestContext } from '../../server/context.js';
import { ServerDispatcher } from '../../server/dispatcher.js';
import { ServerFilter, serverLayer, type ServerService } from '../../server/filter.js';
import type { ErrorHook } from '../../server/safe.js';
import type { StatsRegistry } from '../../stats/registry.js';
import type { Connection } from '../../transport/index.js';
import type { TlsServerOptions } from '../../transport/tls.js';
import type { ServiceDesc } from '../thrift/descriptors.js';
import { makeProtocol, type ThriftProtocolKind } from '../thrift/protocols.js';
import { thriftServerHandle, thriftServerStack, type ThriftServer } from '../thrift/server.js';
import { CONNECTION_LIMIT_KEYS, type ConnectionLimits, listenStream } from '../../server/listen.js';
import type { DecodeLimits } from '../thrift/protocol.js';
import { MuxServerRequest, ThriftMuxServerCodec, type ThriftMuxServerRequest } from './server-codec.js';
import { ReassemblyBudget } from '../mux/fragments.js';
import { MUX_READ_SPLIT } from './batching.js';

/** Bytes a server holds in unfinished fragmented messages, all connections together. */
export const DEFAULT_SERVER_REASSEMBLY_BYTES = 128 * 1024 * 1024;

export interface ThriftMuxServerOptions extends ConnectionLimits {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: a free port, read it back from `server.port`). */
  port?: number;
  /** Thrift protocol inside Tdispatch and for plain Thrift clients (default 'binary'). */
  protocol?: ThriftProtocolKind;
  /** Largest frame or reassembled message accepted, in bytes (default 16 MiB). */
  maxFrameSize?: number;
  /** Limits of the Thrift decoder inside Tdispatch: depth, sizes, the decode budget (docs/server.md). */
  decodeLimits?: Partial<DecodeLimits>;
  /**
   * Handlers running at once in the whole server; past it a call is answered at once with
   * `Rdispatch NACK` (the client sends it elsewhere). Default: no limit.
   */
  maxConcurrent?: number;
  /** Handlers running at once per connection before its reading pauses (default 4096). */
  maxConcurrentPerConnection?: number;
  /** Each call must be answered this many ms after it arrived (default none); the caller's deadline bounds it too. */
  requestTimeout?: number;
  /** Most contexts on one Tdispatch (default 256); most dtab entries (default 256). */
  maxContexts?: number;
  maxDtab?: number;
  /** Most fragmented messages in progress per connection (default 64). */
  maxPartials?: number;
  /**
   * Bytes held in unfinished fragmented messages by all connections together (default 128 MiB);
   * a connection whose pieces go past it is closed (OverloadedError).
   */
  maxReassemblyBytes?: number;
  /**
   * The largest frame we take, sent as `mux-framer` in Rinit: negotiating clients cut larger
   * calls into fragments of this size (default: none sent).
   */
  framerSize?: number;
  /** While draining, how long a Mux session keeps reading (NACKing new calls) waiting for the client's Rdrain (default 1000 ms). */
  drainAckTimeout?: number;
  /** Context keys (with wire codecs) decoded into typed values besides Mux's own. */
  contextKeys?: readonly ContextKey<unknown>[];
  /** Run handlers inside an ambient context, so their client calls carry the deadline and contexts on (default true). */
  propagateContext?: boolean;
  /** Serve Finagle's TTwitter upgrade to plain framed clients on this port (default true; `false`: UNKNOWN_METHOD). */
  ttwitter?: boolean;
  /** Put handler error messages into INTERNAL_ERROR replies (default false: they go to `onError` only). */
  exposeErrors?: boolean;
  /** Handler crashes, protocol errors, failed connections (default: stderr; `false` silences them). */
  onError?: ErrorHook | false;
  /** Where the default `onError` writes (see ThriftServerOptions.logger); `false` silences it. */
  logger?: Logger | false;
  stats?: StatsRegistry;
  /** Serve TLS; with `requestCert`, mTLS (docs/tls.md). */
  tls?: TlsServerOptions;
}

/**
 * A running ThriftMux server: the same handle as a Thrift server (stats, stack, `announce`);
 * `close` leaves the serversets, sends Tdrain to every Mux session, lets running handlers answer
 * (bounded by `graceMs`, default 5000), then closes.
 */
export type ThriftMuxServer = ThriftServer;

/**
 * Role 'discard' (top of the stack): lets Tdiscarded reach the call. It records how to abort the
 * handler's signal; the codec marks the call discarded so that no answer is ever written.
 */
class DiscardFilter extends ServerFilter<ThriftMuxServerRequest> {
  dispatch(req: ThriftMuxServerRequest, ctx: ServerRequestContext<ThriftMuxServerRequest>, handler: ReplyHandler<unknown>): void {
    if (req instanceof MuxServerRequest) req.ctx = ctx;
    this.down.dispatch(req, ctx, handler);
  }
}

/** Serves `handler` over ThriftMux (and plain framed Thrift on the same port). */
const THRIFTMUX_SERVER_KEYS = optionKeys<ThriftMuxServerOptions>({
  ...CONNECTION_LIMIT_KEYS,
  host: true,
  port: true,
  protocol: true,
  maxFrameSize: true,
  decodeLimits: true,
  maxConcurrent: true,
  maxConcurrentPerConnection: true,
  requestTimeout: true,
  maxContexts: true,
  maxDtab: true,
  maxPartials: true,
  maxReassemblyBytes: true,
  framerSize: true,
  drainAckTimeout: true,
  ttwitter: true,
  contextKeys: true,
  propagateContext: true,
  exposeErrors: true,
  onError: true,
  logger: true,
  stats: true,
  tls: true,
});

export async function serveThriftMux<Handler extends object>(service: ServiceDesc<unknown, Handler>, handler: Handler, options: ThriftMuxServerOptions = {}): Promise<ThriftMuxServer> {
  refuseUnknownKeys(options, THRIFTMUX_SERVER_KEYS, 'ThriftMux.serve');
  for (const name of [
    'maxConcurrent',
    'maxConcurrentPerConnection',
    'requestTimeout',
    'maxFrameSize',
    'maxContexts',
    'maxDtab',
    'maxPartials',
    'maxReassemblyBytes',
    'drainAckTimeout',
    'framerSize',
  ] as const) {
    const v = options[name];
    if (v !== undefined && !(typeof v === 'number' && v > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got ${String(v)}`);
  }
  const maxFrameSize = options.maxFrameSize ?? 16 * 1024 * 1024;
  const protocol = makeProtocol(options.protocol ?? 'binary', maxFrameSize, options.decodeLimits);
  const codec = new ThriftMuxServerCodec(protocol, service as ServiceDesc, {
    limits: {
      maxMessageBytes: maxFrameSize,
      maxPartials: options.maxPartials ?? 64,
      maxContexts: options.maxContexts ?? 256,
      maxDtab: options.maxDtab ?? 256,
      reassembly: new ReassemblyBudget(options.maxReassemblyBytes ?? DEFAULT_SERVER_REASSEMBLY_BYTES),
    },
    contextKeys: options.contextKeys,
    drainAckMs: options.drainAckTimeout,
    maxFrameToReceive: options.framerSize,
    ttwitter: options.ttwitter ?? true,
  });
  const built = thriftServerStack<ThriftMuxServerRequest>(service, handler, options, (req, err) => codec.isDeclared(req, err));
  const { stats, scope, onError } = built;
  const stack = built.stack.prepend(serverLayer<ThriftMuxServerRequest>('discard', 'Tdiscarded aborts ctx.signal; a discarded call is never answered', (below) => new DiscardFilter(below)));
  scope.gaugeFn('mux_discarded', () => codec.discarded);
  scope.gaugeFn('mux_drain_nacks', () => codec.drainNacks);
  const dispatcher = new ServerDispatcher<Connection, ThriftMuxServerRequest>(codec, stack.build() as unknown as ServerService<ThriftMuxServerRequest>, {
    maxConcurrentPerConnection: options.maxConcurrentPerConnection ?? 4096,
    onError,
  });
  const listening = await listenStream(dispatcher, {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    framing: { kind: 'length-prefixed' },
    maxFrameSize,
    maxConnections: options.maxConnections,
    idleTimeoutMs: options.idleTimeoutMs,
    frameTimeoutMs: options.frameTimeoutMs,
    frameBudget: options.frameBudget,
    stats: scope,
    tls: options.tls,
    readSplit: MUX_READ_SPLIT,
  });
  return thriftServerHandle(listening, stats, stack);
}
