import { lookup } from 'node:dns/promises';
import { Resolver } from 'node:dns/promises';
import { ClosedError, InvalidArgumentError } from '../core/errors.js';
import type { StatsRegistry } from '../stats/registry.js';
import { endpointKey, type Endpoint, type TcpEndpoint } from './endpoint.js';
import { observer, type DiscoveryLog, type Observer } from './observe.js';
import type { ServerSet } from './serverset.js';

export interface DnsServerSetOptions {
  /** DNS servers to ask (`['10.0.0.2', '127.0.0.1:5353']`; default: the system's). */
  servers?: readonly string[];
  /** Re-resolve interval when the answer carries no TTL (SRV, hosts-file names), ms (default 30000). */
  intervalMs?: number;
  /** Bounds on a TTL-driven re-resolve, ms (default 1000 and 300000): a TTL of 0 does not spin. */
  minRefreshMs?: number;
  maxRefreshMs?: number;
  /** Wait before asking again after a failed lookup, ms (default 5000). */
  retryMs?: number;
  log?: DiscoveryLog | false;
  /** Where the set counts (scope `discovery=<uri>`; default the shared `discoveryStats`). */
  stats?: StatsRegistry;
}

/** A parsed `dns://` destination. */
interface DnsTarget {
  readonly kind: 'address' | 'srv';
  readonly name: string;
  /** The port of every address (A/AAAA); SRV records carry their own. */
  readonly port: number;
}

/**
 * A destination kept in DNS, for where there is no ZooKeeper:
 * `dns://users.internal:9090` (every A and AAAA address, that port) or
 * `dns://_users._tcp.internal` (SRV: each target and port). Re-resolved when the answer's TTL runs
 * out (bounded), or every `intervalMs` when it has none; a failed lookup keeps the last set.
 */
export class DnsServerSet implements ServerSet {
  readonly uri: string;
  private readonly target: DnsTarget;
  private readonly resolver = new Resolver();
  private readonly obs: Observer;
  private readonly listeners = new Set<(addresses: readonly Endpoint[]) => void>();
  private current: readonly Endpoint[] = [];
  private timer: NodeJS.Timeout | undefined = undefined;
  private closed = false;
  private readonly o: Required<Pick<DnsServerSetOptions, 'intervalMs' | 'minRefreshMs' | 'maxRefreshMs' | 'retryMs'>>;
  private readonly first: Promise<void>;

  constructor(uri: string, options: DnsServerSetOptions = {}) {
    this.uri = uri.trim();
    this.target = parseDnsUri(this.uri);
    if (options.servers !== undefined) this.resolver.setServers([...options.servers]);
    this.o = { intervalMs: options.intervalMs ?? 30_000, minRefreshMs: options.minRefreshMs ?? 1000, maxRefreshMs: options.maxRefreshMs ?? 300_000, retryMs: options.retryMs ?? 5000 };
    this.obs = observer(this.uri, options.log, options.stats);
    this.obs.scope.gaugeFn('endpoints', () => this.current.length);
    this.first = this.refresh();
  }

  get addresses(): readonly Endpoint[] {
    return this.current;
  }

  subscribe(listener: (addresses: readonly Endpoint[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves after the first lookup (whatever it found). */
  ready(): Promise<void> {
    return this.closed ? Promise.reject(new ClosedError(`${this.uri} is closed`)) : this.first;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.listeners.clear();
  }

  private async refresh(): Promise<void> {
    let next: { endpoints: TcpEndpoint[]; ttlSeconds: number | undefined } | undefined;
    try {
      next = this.target.kind === 'srv' ? await this.resolveSrv() : await this.resolveAddresses();
      this.obs.scope.counter('lookups').incr();
    } catch (err) {
      if (this.closed) return;
      this.obs.scope.counter('lookup_errors').incr();
      this.obs.log('warn', `lookup failed (${(err as Error).message}); keeping the last ${this.current.length} endpoint(s)`);
      return this.schedule(this.o.retryMs);
    }
    if (this.closed) return;
    this.publish(next.endpoints);
    const ttlMs = next.ttlSeconds === undefined ? this.o.intervalMs : Math.min(this.o.maxRefreshMs, Math.max(this.o.minRefreshMs, next.ttlSeconds * 1000));
    this.schedule(ttlMs);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), ms);
    this.timer.unref?.();
  }

  private async resolveSrv(): Promise<{ endpoints: TcpEndpoint[]; ttlSeconds: undefined }> {
    const records = await this.resolver.resolveSrv(this.target.name);
    // Lowest priority value first; the balancer spreads load, so weights are not used.
    const best = Math.min(...records.map((r) => r.priority));
    const endpoints = records.filter((r) => r.priority === best).map((r) => ({ host: r.name.replace(/\.$/, ''), port: r.port }));
    return { endpoints, ttlSeconds: undefined };
  }

  private async resolveAddresses(): Promise<{ endpoints: TcpEndpoint[]; ttlSeconds: number | undefined }> {
    const name = this.target.name;
    const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(name, { ttl: true }), this.resolver.resolve6(name, { ttl: true })]);
    const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (found.length > 0) {
      return { endpoints: found.map((a) => ({ host: a.address, port: this.target.port })), ttlSeconds: Math.min(...found.map((a) => a.ttl)) };
    }
    // Not in DNS: the system's own resolution (hosts file, `localhost`), re-read every interval.
    const notFound = (r: PromiseSettledResult<unknown>) => r.status === 'rejected' && ['ENOTFOUND', 'ENODATA'].includes((r.reason as { code?: string }).code ?? '');
    if (!notFound(v4) || !notFound(v6)) throw (v4.status === 'rejected' ? v4.reason : (v6 as PromiseRejectedResult).reason) as Error;
    const local = await lookup(name, { all: true });
    return { endpoints: local.map((a) => ({ host: a.address, port: this.target.port })), ttlSeconds: undefined };
  }

  private publish(endpoints: TcpEndpoint[]): void {
    const keys = new Set(endpoints.map(endpointKey));
    const before = new Set(this.current.map(endpointKey));
    let added = 0;
    for (const k of keys) if (!before.has(k)) added++;
    const removed = before.size - (keys.size - added);
    if (added === 0 && removed === 0) return;
    const unique = new Map<string, TcpEndpoint>();
    for (const e of endpoints) unique.set(endpointKey(e), e);
    this.current = [...unique.values()];
    this.obs.scope.counter('endpoints_added').incr(added);
    this.obs.scope.counter('endpoints_removed').incr(removed);
    this.obs.log('info', `set changed: +${added} -${removed}, ${this.current.length} endpoint(s)`);
    for (const l of [...this.listeners]) {
      try {
        l(this.current);
      } catch (err) {
        this.obs.log('error', `a subscriber threw: ${String(err)}`);
      }
    }
  }
}

/** `dns://name:port` (A/AAAA) or `dns://_service._proto.name` (SRV). */
function parseDnsUri(uri: string): DnsTarget {
  const rest = uri.replace(/^dns:\/\//i, '').replace(/\/$/, '');
  const srv = /^(_[^.\s/:]+\._(?:tcp|udp)\.[^\s/:]+)$/i.exec(rest);
  if (srv !== null) return { kind: 'srv', name: srv[1]!, port: 0 };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s/[\]]+)):(\d{1,5})$/.exec(rest);
  if (m === null) throw new InvalidArgumentError(`bad dns destination '${uri}': expected dns://name:port (A/AAAA) or dns://_service._tcp.name (SRV)`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new InvalidArgumentError(`bad port ${m[3]} in '${uri}': expected 1-65535`);
  return { kind: 'address', name: (m[1] ?? m[2])!, port };
}
