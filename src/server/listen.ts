import type { OptionKeyList } from '../core/option-keys.js';
import type net from 'node:net';
import { MAX_TIMER_MS, performance } from '../core/clock.js';
import { InvalidArgumentError, OverloadedError } from '../core/errors.js';
import { Counter, type StatsScope } from '../stats/registry.js';
import { type FrameBudget, partialFrameBudget } from '../transport/frame-budget.js';
import { Connection, listenTcp, type Framing } from '../transport/index.js';
import { TlsAcceptor, type TlsError, type TlsServerOptions } from '../transport/tls.js';
import type { ServerRequest } from './codec.js';
import type { ServerDispatcher } from './dispatcher.js';
import { report } from './safe.js';
import { type StreamSessionLimits, StreamSession } from './stream-session.js';

/** The limits every stream server has (defaults in STREAM_SERVER_LIMITS); protocols' server options extend it. */
export interface ConnectionLimits {
  /** Connections open at once; past it a new connection is closed as soon as it is accepted (default 4096; Infinity: no cap). */
  maxConnections?: number;
  /** A connection with no request in flight that sends nothing for this long is closed gracefully (default 300000 = 5 min; Infinity: never). */
  idleTimeoutMs?: number;
  /** Read timeout: a message must arrive whole within this long of its first byte (default 30000; Infinity: no bound). */
  frameTimeoutMs?: number;
  /** Where partly received messages are charged (default `partialFrameBudget`, shared by the whole process: 192 MiB). */
  frameBudget?: FrameBudget;
}

/** The ConnectionLimits keys, for protocols' lists of known server options. */
export const CONNECTION_LIMIT_KEYS: OptionKeyList<ConnectionLimits> = { maxConnections: true, idleTimeoutMs: true, frameTimeoutMs: true, frameBudget: true };

export interface StreamServerOptions extends ConnectionLimits {
  host: string;
  port: number;
  framing: Framing;
  maxFrameSize: number;
  /** Scope for the limits' counters and the `connections` gauge (default: counters nobody reads). */
  stats?: StatsScope;
  /** Serve TLS (mTLS with `requestCert`) instead of plain TCP. */
  tls?: TlsServerOptions;
  /** Each connection's read split (ConnectionOptions.readSplit); default: the process-wide one. */
  readSplit?: number;
}

/** Defaults of the limits every stream server has, and why (docs/server.md, "Limits"). */
export const STREAM_SERVER_LIMITS = Object.freeze({
  /** ~25 KiB per used connection: 4096 ≈ 100 MiB, which with the 192 MiB budget keeps a flooded server under 512 MB. */
  maxConnections: 4096,
  /** Longer than a client pool keeps a surplus connection idle (30 s), so clients close theirs first. */
  idleTimeoutMs: 5 * 60_000,
  /** A 16 MiB message needs ≥ 4.5 Mbit/s to make it; a slowloris holds a connection no longer. */
  frameTimeoutMs: 30_000,
});

/** How often a server that keeps refusing connections says so. */
const REFUSAL_REPORT_MS = 60_000;

/** A TLS server reports at most TLS_REPORT_BURST refused handshakes per TLS_REPORT_MS (all are counted). */
const TLS_REPORT_MS = 60_000;
const TLS_REPORT_BURST = 10;

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
  /**
   * TLS servers: loads a new certificate/key/CA for new connections (open ones keep theirs).
   * Without `options` the configured files are read again. Throws InvalidArgumentError when the
   * new material does not load; the old certificate is served on. Plain servers throw.
   */
  reloadTls(options?: TlsServerOptions): void;
}

/**
 * Listens on TCP and serves every accepted connection through `dispatcher` (one StreamSession
 * each), under the limits of `StreamServerOptions` (connection cap, idle and read timeouts, the
 * partial-message budget). Their counters, in `o.stats`: connections_refused,
 * connections_idle_closed, connections_read_timeout, connections_over_frame_budget.
 */
export async function listenStream<Req extends ServerRequest>(dispatcher: ServerDispatcher<Connection, Req>, o: StreamServerOptions): Promise<StreamServer> {
  const maxConnections = limit('maxConnections', o.maxConnections, STREAM_SERVER_LIMITS.maxConnections, Number.MAX_SAFE_INTEGER);
  const frameTimeoutMs = limit('frameTimeoutMs', o.frameTimeoutMs, STREAM_SERVER_LIMITS.frameTimeoutMs, MAX_TIMER_MS);
  const frameBudget = o.frameBudget ?? partialFrameBudget;
  const stats = o.stats;
  const counter = (name: string): Counter => stats?.counter(name) ?? new Counter();
  const limits: StreamSessionLimits = {
    idleTimeoutMs: limit('idleTimeoutMs', o.idleTimeoutMs, STREAM_SERVER_LIMITS.idleTimeoutMs, MAX_TIMER_MS),
    idleClosed: counter('connections_idle_closed'),
    readTimeouts: counter('connections_read_timeout'),
    overFrameBudget: counter('connections_over_frame_budget'),
  };
  const refused = counter('connections_refused');
  let lastReport = -Infinity;
  let refusedAtReport = 0;
  let where = `listener ${o.host}:${o.port}`;
  const onRefused = (): void => {
    refused.incr();
    const now = performance.now();
    if (now - lastReport < REFUSAL_REPORT_MS) return;
    lastReport = now;
    const n = refused.value - refusedAtReport;
    refusedAtReport = refused.value;
    const err = new OverloadedError(`${maxConnections} connections open (maxConnections): refusing new ones; ${n} refused since the last report, all counted in connections_refused`);
    report(dispatcher.onError, err, where);
  };
  const serve = (socket: net.Socket): void => {
    const conn = new Connection(socket, {
      framing: o.framing,
      maxFrameSize: o.maxFrameSize,
      endpoint: `${socket.remoteAddress}:${socket.remotePort}`,
      frameTimeoutMs,
      frameBudget,
      readSplit: o.readSplit,
    });
    new StreamSession(dispatcher, conn, socket, limits);
  };
  const tls =
    o.tls === undefined
      ? undefined
      : new TlsAcceptor(
          o.tls,
          serve,
          tlsFailureReporter(counter('tls_handshake_failures'), (err) => report(dispatcher.onError, err, where)),
        );
  const listener = await listenTcp({
    host: o.host,
    port: o.port,
    maxConnections: maxConnections === 0 ? undefined : maxConnections,
    onRefused,
    onConnection: tls === undefined ? serve : (socket) => tls.accept(socket),
  });
  where = `listener ${listener.host}:${listener.port}`;
  stats?.gaugeFn('connections', () => dispatcher.sessions.size);
  return {
    host: listener.host,
    port: listener.port,
    get connections() {
      return dispatcher.sessions.size;
    },
    reloadTls(options?: TlsServerOptions) {
      if (tls === undefined) throw new InvalidArgumentError('reloadTls: this server was not started with tls');
      tls.reload(options);
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

/**
 * Refused TLS handshakes are counted each and reported up to TLS_REPORT_BURST times per
 * TLS_REPORT_MS; past that the next report says how many went unreported (a handshake flood
 * must not flood the log).
 */
function tlsFailureReporter(failures: Counter, emit: (err: TlsError) => void): (err: TlsError) => void {
  let windowStart = -Infinity;
  let inWindow = 0;
  let unreported = 0;
  return (err) => {
    failures.incr();
    const now = performance.now();
    if (now - windowStart >= TLS_REPORT_MS) {
      windowStart = now;
      inWindow = 0;
    }
    if (++inWindow > TLS_REPORT_BURST) {
      unreported++;
      return;
    }
    if (unreported > 0) err.message += ` (and ${unreported} refused handshakes not reported before it, all counted in tls_handshake_failures)`;
    unreported = 0;
    emit(err);
  };
}

/** A limit's value: the default when unset, 0 for Infinity (off); else a positive number up to `max`. */
function limit(name: string, v: number | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (v === Infinity) return 0;
  if (!(typeof v === 'number' && v > 0 && v <= max)) throw new InvalidArgumentError(`${name} must be a positive number up to ${max}, or Infinity, got ${String(v)}`);
  return v;
}
