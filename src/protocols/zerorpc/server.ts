/**
 * A ZeroRPC server: a ROUTER socket bound to one or more addresses, serving a handler object's
 * public methods through the server stack (stats, deadline, concurrency, logging, errors).
 *
 *   const server = await ZeroRpc.serve(new Calc(), { bind: 'tcp://127.0.0.1:4242' });
 */
import type { ContextKey } from '../../core/context-key.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { TraceId } from './context.js';
import type { ServerRequestContext } from '../../server/context.js';
import { ServerDispatcher } from '../../server/dispatcher.js';
import type { HandlerFn } from '../../server/filters/handler.js';
import { logToStderr } from '../../server/filters/logging.js';
import type { ErrorHook } from '../../server/safe.js';
import { serverStack } from '../../server/stack.js';
import type { ServerService } from '../../server/filter.js';
import type { Stack, StackView } from '../../core/stack.js';
import { StatsRegistry } from '../../stats/registry.js';
import { allowListDomain, type CurveServerOptions } from './curve.js';
import { DEFAULT_HEARTBEAT_MS } from './heartbeat.js';
import { introspection, NamedError } from './introspect.js';
import { arityError, methodInfo, publicMethods, type MethodDeclaration, type MethodInfo } from './methods.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from './msgpack.js';
import { ZeroServerCodec, type ZeroRequest } from './server-codec.js';
import { ZeroServerCore, ZeroServerSession } from './server-core.js';
import { pickTransport } from './session.js';
import { DEFAULT_MAX_QUEUED, loadZmq, MessageSocket, type ZeroTransport } from './socket.js';
import { DEFAULT_ZMTP_LIMITS } from './zmtp/connection.js';
import { ZmtpRouter } from './zmtp/router.js';
import { report } from '../../server/safe.js';

/** Default bound of open channels per server. */
export const DEFAULT_MAX_CHANNELS = 10_000;

export interface ZeroServerOptions {
  /** Where to listen: `tcp://127.0.0.1:4242`, `tcp://127.0.0.1:*` (any free port), `ipc:///run/svc.sock`; one or several. */
  readonly bind?: string | readonly string[];
  /** Addresses to connect to instead (or as well): clients that bind (zerorpc's `--client --bind`). */
  readonly connect?: string | readonly string[];
  /** The service's name (`_zerorpc_name`, `_zerorpc_ping`); default: the handler's class name. */
  readonly name?: string;
  /** Heartbeat interval in ms (default 5000, zerorpc's), or false for none. */
  readonly heartbeat?: number | false;
  /** Server-side deadline per request in ms (default: none). */
  readonly requestTimeout?: number;
  /** Requests running at once before new ones are refused with OverloadedError (default: no limit). */
  readonly maxConcurrent?: number;
  /** Send the JavaScript stack as the remote traceback (default false: `Name: message` only). */
  readonly tracebacks?: boolean;
  /** Largest message accepted, bytes (default 16 MiB); ZeroMQ disconnects a peer that sends more. */
  readonly maxMessageSize?: number;
  /** Open channels (running calls and streams) at most; more are refused with OverloadedError (default 10,000). */
  readonly maxChannels?: number;
  /** Messages queued for sending before answers are dropped (default 10,000). */
  readonly maxQueued?: number;
  /** Metadata by method name (doc strings, stream methods), as `method(fn, ...)` declares it. */
  readonly methods?: Readonly<Record<string, MethodDeclaration>>;
  /** CURVE: this server's key pair (clients must know its public key). */
  readonly curve?: CurveServerOptions;
  /**
   * Context keys read from request headers (those with a wire codec, by their wire name); the
   * handler's nested calls carry them on. Default: `[TraceId]`.
   */
  readonly contextKeys?: readonly ContextKey<unknown>[];
  /**
   * Edits the server stack (zerorpc's context hooks, as interceptors): e.g.
   * `(s) => s.insertBefore('handler', serverLayer('auth', '...', (below) => new AuthFilter(below)))`.
   */
  readonly stack?: (stack: Stack) => Stack;
  /**
   * `zmtp` (the default when every address is tcp:// and there is no CURVE): this package's own
   * ZMTP; `zeromq`: the npm zeromq binding (always used for CURVE, ipc://, inproc:// and `connect`).
   */
  readonly transport?: ZeroTransport;
  /** ZMTP handshake (greeting and READY) deadline per connection in ms, own transport only (default 10,000). */
  readonly handshakeTimeout?: number;
  /** No logging of handler crashes and bad input. */
  readonly quiet?: boolean;
  readonly onError?: ErrorHook;
  readonly stats?: StatsRegistry;
}

export interface ZeroServer {
  /** The addresses bound, with real ports (`tcp://127.0.0.1:41234`). */
  readonly endpoints: readonly string[];
  readonly stats: StatsRegistry;
  /** The server stack, role by role. */
  readonly stack: StackView;
  /** Events dropped, channels lost, streams started, connections refused for bad bytes (own transport). */
  readonly counts: { readonly dropped: number; readonly lost: number; readonly streams: number; readonly refused: number };
  /** The transport serving the addresses. */
  readonly transport: ZeroTransport;
  /** Stops taking calls, lets running ones finish for `graceMs` (default 10 s), then closes. */
  close(graceMs?: number): Promise<void>;
}

/** Serves `handler`'s public methods (own and inherited, no leading `_`). */
export async function serveZeroRpc(handler: object, o: ZeroServerOptions): Promise<ZeroServer> {
  if (handler === null || typeof handler !== 'object') throw new InvalidArgumentError('ZeroRPC serve: the handler must be an object');
  const binds = o.bind === undefined ? [] : typeof o.bind === 'string' ? [o.bind] : [...o.bind];
  const connects = o.connect === undefined ? [] : typeof o.connect === 'string' ? [o.connect] : [...o.connect];
  if (binds.length + connects.length === 0) throw new InvalidArgumentError('ZeroRPC serve: give bind (or connect) addresses');
  const heartbeat = o.heartbeat ?? DEFAULT_HEARTBEAT_MS;
  if (heartbeat !== false && !(heartbeat > 0)) throw new InvalidArgumentError('heartbeat must be a positive number of ms or false');
  const ctorName = (handler as { constructor?: { name?: unknown } }).constructor?.name;
  const name = o.name ?? (typeof ctorName === 'string' && ctorName !== 'Object' ? ctorName : 'zerorpc');

  const infos = new Map<string, MethodInfo>();
  const methods = new Map<string, HandlerFn>();
  for (const [m, fn] of publicMethods(handler)) {
    const declared = o.methods?.[m];
    const base = methodInfo(fn);
    const info: MethodInfo =
      declared === undefined
        ? base
        : { ...base, doc: declared.doc ?? base.doc, stream: declared.stream ?? base.stream, args: declared.args ?? base.args, defaults: declared.defaults ?? base.defaults };
    infos.set(m, info);
    methods.set(m, withArity(`${name}.${m}`, info, fn, handler));
  }
  for (const [m, fn] of introspection(name, infos)) methods.set(m, withArity(m, builtinInfo(m), fn, handler));

  const maxMessageSize = o.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  const tcpOnly = connects.length === 0 && binds.every((b) => /^tcp:\/\//i.test(b.trim()));
  const transport = pickTransport(o.transport, tcpOnly, o.curve !== undefined);
  const onError = o.onError ?? (o.quiet === true ? undefined : logToStderr);
  const stats = o.stats ?? new StatsRegistry();
  const base = serverStack<ZeroRequest>({
    serviceName: name,
    target: handler,
    methods,
    stats: stats.scope('server', `zerorpc:${name}`),
    requestTimeout: o.requestTimeout,
    maxConcurrent: o.maxConcurrent,
    onError,
    defaultLogger: onError === logToStderr,
    isDeclared: (_req, err) => err instanceof Error,
    exposeErrors: true,
    propagateContext: true,
  });
  const stack = o.stack === undefined ? base : o.stack(base);
  stack.check();
  const keys = new Map<string, ContextKey<unknown>>();
  for (const k of o.contextKeys ?? [TraceId as ContextKey<unknown>]) if (k.wire !== undefined) keys.set(k.wire.name, k);
  const codec = new ZeroServerCodec(new Set(methods.keys()), o.tracebacks === true, keys);
  const core = new ZeroServerCore({
    heartbeat,
    maxMessageSize,
    onError,
    isStreamMethod: (m) => infos.get(m)?.stream === true,
    maxChannels: o.maxChannels ?? DEFAULT_MAX_CHANNELS,
    errArgs: (err) => codec.errArgs(err),
  });
  const dispatcher = new ServerDispatcher<ZeroServerCore, ZeroRequest>(codec, stack.build() as unknown as ServerService<ZeroRequest>, {
    maxConcurrentPerConnection: Number.MAX_SAFE_INTEGER,
    onError,
  });
  let session!: ZeroServerSession;
  const receive = (head: Buffer[], buf: Buffer, start: number, end: number) => session.receive(head, buf, start, end);
  let endpoints: readonly string[];
  let releaseAllowList: (() => void) | undefined;
  if (transport === 'zmtp') {
    try {
      const router = await ZmtpRouter.bind(
        binds,
        { maxMessageSize, maxQueued: o.maxQueued ?? DEFAULT_MAX_QUEUED, handshakeTimeout: o.handshakeTimeout ?? DEFAULT_ZMTP_LIMITS.handshakeTimeout },
        {
          message: receive,
          peerError: (err, peer) => {
            core.counts.refused++;
            report(onError, err, `ZeroRPC connection from ${peer}`);
          },
        },
      );
      core.sock = router;
      endpoints = router.endpoints;
    } catch (err) {
      throw err instanceof InvalidArgumentError ? err : new InvalidArgumentError(`ZeroRPC cannot bind ${binds.join(', ')}: ${(err as Error).message}`, { cause: err });
    }
  } else {
    const z = await zeromqSocket(binds, connects, maxMessageSize, o.curve);
    endpoints = z.endpoints;
    releaseAllowList = z.releaseAllowList;
    core.sock = new MessageSocket(z.socket, receive, (err) => session.failed(err), o.maxQueued ?? DEFAULT_MAX_QUEUED);
  }
  session = new ZeroServerSession(dispatcher, core, endpoints.join(','), codec);
  return {
    endpoints,
    transport,
    stats,
    stack,
    counts: core.counts,
    close: async (graceMs = 10_000) => {
      await dispatcher.close(graceMs);
      releaseAllowList?.();
    },
  };
}

function builtinInfo(m: string): MethodInfo {
  const takesName = m === '_zerorpc_help' || m === '_zerorpc_args';
  return { args: takesName ? ['method'] : [], defaults: undefined, varargs: undefined, doc: undefined, stream: false };
}

/**
 * The handler function the server stack calls: checks the number of arguments as Python would
 * (TypeError with Python's message), pads missing optional ones with undefined (so JavaScript
 * defaults apply and the context stays the last argument), and records the request context on
 * its channel (a lost remote aborts it).
 */
function withArity(name: string, info: MethodInfo, fn: (...args: unknown[]) => unknown, target: object): HandlerFn {
  const total = info.args.length;
  const rest = info.varargs !== undefined;
  return function (this: unknown): unknown {
    // biome-ignore lint/complexity/noArguments: the common case (all arguments given) forwards them as they came; a rest parameter makes an array per call
    const given = arguments;
    const n = given.length - 1;
    const ctx = given[n] as ServerRequestContext<ZeroRequest>;
    ctx.request.channel.ctx = ctx;
    if (n === total || (rest && n > total)) return fn.apply(target, given as unknown as unknown[]);
    const problem = arityError(name, info, n);
    if (problem !== undefined) throw new NamedError('TypeError', problem);
    const all: unknown[] = [];
    for (let i = 0; i < n; i++) all.push(given[i]);
    if (!rest) while (all.length < total) all.push(undefined);
    all.push(ctx);
    return fn.apply(target, all);
  };
}

/** A zeromq ROUTER bound and connected as asked (CURVE and its allow-list applied). */
async function zeromqSocket(
  binds: readonly string[],
  connects: readonly string[],
  maxMessageSize: number,
  curve: CurveServerOptions | undefined,
): Promise<{ socket: import('zeromq').Router; endpoints: string[]; releaseAllowList: (() => void) | undefined }> {
  const zmq = await loadZmq();
  const socket = new zmq.Router({ linger: 0, maxMessageSize });
  let releaseAllowList: (() => void) | undefined;
  if (curve !== undefined) {
    socket.curveServer = true;
    socket.curvePublicKey = curve.publicKey;
    socket.curveSecretKey = curve.secretKey;
    if (curve.allow !== undefined) {
      const { domain, release } = await allowListDomain(curve.allow);
      socket.zapDomain = domain;
      releaseAllowList = release;
    }
  }
  const endpoints: string[] = [];
  try {
    for (const b of binds) {
      await socket.bind(b);
      endpoints.push(socket.lastEndpoint ?? b);
    }
    for (const c of connects) {
      socket.connect(c);
      endpoints.push(c);
    }
  } catch (err) {
    socket.close();
    throw new InvalidArgumentError(`ZeroRPC cannot bind/connect ${[...binds, ...connects].join(', ')}: ${(err as Error).message}`, { cause: err });
  }

  return { socket, endpoints, releaseAllowList };
}
