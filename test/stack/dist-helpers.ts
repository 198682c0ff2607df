// Shared plumbing for the end-to-end stack tests (distribution, churn, retry budget): one client
// shape over both protocols, a closed-loop load driver, in-process servers that count requests
// and connections, and stats helpers. Every call goes over real TCP on loopback.
import http from 'node:http';
import type net from 'node:net';
import type { ClientBuilderBase } from '../../src/client/builder.js';
import type { ClientStackOptions } from '../../src/client/options.js';
import { isScalesError } from '../../src/core/errors.js';
import type { ServerSet } from '../../src/discovery/serverset.js';
import { Http } from '../../src/protocols/http/index.js';
import { Thrift, type ThriftServer } from '../../src/protocols/thrift/index.js';
import type { StatsRegistry } from '../../src/stats/registry.js';
import { EchoService } from '../fixtures/echo-service.js';
import { sleep, until } from '../harness/wait.js';

export { sleep, until };

export type Proto = 'thrift' | 'http';
export const PROTOCOLS: readonly Proto[] = ['thrift', 'http'];

/** A builder edit that works on both protocols' builders (they share ClientBuilderBase). */
export type Configure = <B extends ClientBuilderBase<B, ClientStackOptions>>(b: B) => B;

export interface DistClient {
  readonly proto: Proto;
  /** One call; resolves to the name of the server that answered. */
  who(): Promise<string>;
  readonly stats: StatsRegistry;
  close(): Promise<void>;
}

let ids = 0;

/** A Thrift Echo client (`echo(id, 0, 'who')`) or an HTTP client (`GET /who`) for `dest`. */
export function makeClient(proto: Proto, dest: string | ServerSet, label: string, configure: Configure = (b) => b): DistClient {
  if (proto === 'thrift') {
    const c = configure(Thrift.newBuilder(EchoService).withLabel(label)).build(dest);
    return {
      proto,
      who: () => c.echo(BigInt(++ids), 0, 'who').then((r) => r.payload),
      stats: c.$stats,
      close: () => c.$close(),
    };
  }
  const c = configure(Http.newBuilder().withLabel(label)).build(dest);
  return {
    proto,
    who: () =>
      c.get('/who').then((r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status}: ${r.text()}`);
        return r.json<{ server: string }>().server;
      }),
    stats: c.$stats,
    close: () => c.$close(),
  };
}

export function errorCode(err: unknown): string {
  if (isScalesError(err)) return err.code;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : ((err as Error | undefined)?.name ?? String(err));
}

export interface LoadResult {
  /** Answers by server name. */
  readonly byServer: Map<string, number>;
  /** Server names in answer order. */
  readonly order: string[];
  readonly ok: number;
  /** Failures by error code. */
  readonly failures: Map<string, number>;
  readonly firstErrors: unknown[];
  readonly elapsedMs: number;
}

/**
 * Closed loop: `concurrency` callers, each sending its next call as soon as the last one settled,
 * until `calls` calls were started or `stop()` says so (checked before each call).
 */
export async function runLoad(fn: () => Promise<string>, opts: { concurrency: number; calls?: number; stop?: () => boolean }): Promise<LoadResult> {
  const byServer = new Map<string, number>();
  const failures = new Map<string, number>();
  const order: string[] = [];
  const firstErrors: unknown[] = [];
  let started = 0;
  let ok = 0;
  const t0 = Date.now();
  const more = (): boolean => (opts.calls === undefined || started < opts.calls) && !(opts.stop?.() ?? false);
  const loop = async (): Promise<void> => {
    while (more()) {
      started++;
      try {
        const who = await fn();
        ok++;
        order.push(who);
        byServer.set(who, (byServer.get(who) ?? 0) + 1);
      } catch (err) {
        const code = errorCode(err);
        failures.set(code, (failures.get(code) ?? 0) + 1);
        if (firstErrors.length < 5) firstErrors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  return { byServer, order, ok, failures, firstErrors, elapsedMs: Date.now() - t0 };
}

/** `requests` counter per node (`host:port`) of client `label`, from its stats snapshot. */
export function nodeCounter(stats: StatsRegistry, label: string, counter = 'requests'): Map<string, number> {
  const out = new Map<string, number>();
  const prefix = `client=${label}/node=`;
  for (const [path, scope] of Object.entries(stats.snapshot().scopes)) {
    if (path.startsWith(prefix) && !path.slice(prefix.length).includes('/')) out.set(path.slice(prefix.length), scope.counters[counter] ?? 0);
  }
  return out;
}

export function clientGauge(stats: StatsRegistry, label: string, gauge: string): number | undefined {
  return stats.snapshot().scopes[`client=${label}`]?.gauges[gauge];
}

export function fmt(m: ReadonlyMap<string, number>): string {
  return [...m].map(([k, v]) => `${k}=${v}`).join(' ');
}

// ---- in-process servers that count -------------------------------------------------------------

/** A server on 127.0.0.1 that answers `who` with its name after `latencyMs`, and counts. */
export interface CountingServer {
  readonly name: string;
  readonly port: number;
  /** Requests received so far. */
  readonly requests: number;
  /** Requests being handled now. */
  readonly inFlight: number;
  /** Connections open now. */
  readonly connections: number;
  close(): Promise<void>;
}

export function startCountingServer(proto: Proto, name: string, latencyMs: number): Promise<CountingServer> {
  return proto === 'thrift' ? startThriftCounting(name, latencyMs) : startHttpCounting(name, latencyMs);
}

async function startThriftCounting(name: string, latencyMs: number): Promise<CountingServer> {
  let requests = 0;
  let inFlight = 0;
  const server: ThriftServer = await Thrift.serve(
    EchoService,
    {
      async echo(id, delayMs, payload) {
        requests++;
        inFlight++;
        try {
          const wait = latencyMs + Math.max(0, delayMs);
          if (wait > 0) await sleep(wait);
          return { id, payload: payload === 'who' ? name : payload };
        } finally {
          inFlight--;
        }
      },
    },
    { port: 0, maxConcurrentPerConnection: 10_000 },
  );
  return {
    name,
    port: server.port,
    get requests() {
      return requests;
    },
    get inFlight() {
      return inFlight;
    },
    get connections() {
      return server.connections;
    },
    close: () => server.close(1000),
  };
}

async function startHttpCounting(name: string, latencyMs: number): Promise<CountingServer> {
  let requests = 0;
  let inFlight = 0;
  const sockets = new Set<net.Socket>();
  const server = http.createServer(async (req, res) => {
    requests++;
    inFlight++;
    try {
      for await (const _ of req) void _;
      if (latencyMs > 0) await sleep(latencyMs);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ server: name, method: req.method, path: req.url }));
    } finally {
      inFlight--;
    }
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    name,
    port: (server.address() as net.AddressInfo).port,
    get requests() {
      return requests;
    },
    get inFlight() {
      return inFlight;
    },
    get connections() {
      return sockets.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
