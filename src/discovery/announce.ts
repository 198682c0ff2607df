import { hostname } from 'node:os';
import { InvalidArgumentError } from '../core/errors.js';
import type { StatsRegistry } from '../stats/registry.js';
import type { TcpEndpoint } from './endpoint.js';
import type { DiscoveryLog } from './observe.js';
import { announceZk } from './zk/announcer.js';

/** How a server says where it is: `server.announce('zk://zk1:2181/services/users', { shard: 3 })`. */
export interface AnnounceOptions {
  /** Named extra endpoints (Finagle's `additionalEndpoints`): clients pick one with `zk://.../path#name`. */
  endpoints?: Readonly<Record<string, TcpEndpoint>>;
  /** The shard this server serves (written as `shard`; default 0, as Finagle writes it). */
  shard?: number;
  /** Free-form string pairs (written only when non-empty). */
  metadata?: Readonly<Record<string, string>>;
  /**
   * The host clients should dial. Default: the address the server listens on, or this machine's
   * hostname when it listens on every interface (0.0.0.0, ::).
   */
  host?: string;
  /** How long `announce` waits for the first registration before failing, ms (default 10000). */
  timeoutMs?: number;
  /** ZooKeeper session timeout, ms (default 10000): how long a killed server stays in the set. */
  sessionTimeoutMs?: number;
  log?: DiscoveryLog | false;
  /** Where the announcement counts (scope `announce=<uri>`; default the shared `discoveryStats`). */
  stats?: StatsRegistry;
}

/** A live registration: kept (re-created after a session expiry) until withdrawn. */
export interface Announcement {
  readonly uri: string;
  /** The member node now (`/path/member_0000000007`), or undefined while it is being re-created. */
  readonly node: string | undefined;
  /** Removes the member and stops re-creating it. Bounded: a ZooKeeper that is away cannot hold it up. */
  withdraw(): Promise<void>;
}

/** Makes an announcement for one scheme: `service` is the endpoint clients route to. */
export type Announcer = (uri: string, service: TcpEndpoint, options: AnnounceOptions) => Promise<Announcement>;

const announcers = new Map<string, Announcer>([['zk', announceZk]]);

/** Plugs in a scheme servers can announce into (`zk` is built in). */
export function registerAnnouncer(scheme: string, announcer: Announcer): void {
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) throw new InvalidArgumentError(`bad scheme name '${scheme}': lowercase letters, digits, + . -`);
  announcers.set(scheme, announcer);
}

/** Announces `service` at `uri` through the announcer registered for its scheme. */
export function announce(uri: string, service: TcpEndpoint, options: AnnounceOptions = {}): Promise<Announcement> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(uri)?.[1]?.toLowerCase();
  const announcer = scheme === undefined ? undefined : announcers.get(scheme);
  if (announcer === undefined) {
    return Promise.reject(new InvalidArgumentError(`cannot announce into '${uri}' (schemes: ${[...announcers.keys()].join(', ') || 'none'})`));
  }
  return announcer(uri, service, options);
}

/**
 * The announcements of one server: made once it listens, withdrawn first when it closes (before
 * draining, so clients stop sending new calls while the running ones finish).
 */
export class ServerAnnouncements {
  private readonly live = new Set<Announcement>();
  private closing = false;

  constructor(private readonly listening: { readonly host: string; readonly port: number }) {}

  async announce(uri: string, options: AnnounceOptions = {}): Promise<Announcement> {
    if (this.closing) throw new InvalidArgumentError('cannot announce a server that is closing');
    const host = options.host ?? (isWildcard(this.listening.host) ? hostname() : this.listening.host);
    const a = await announce(uri, { host, port: this.listening.port }, options);
    if (this.closing) {
      await a.withdraw();
      throw new InvalidArgumentError('the server closed while announcing');
    }
    this.live.add(a);
    return {
      uri: a.uri,
      get node() {
        return a.node;
      },
      withdraw: async () => {
        this.live.delete(a);
        await a.withdraw();
      },
    };
  }

  /** Withdraws every announcement (the first step of a graceful close). */
  async withdrawAll(): Promise<void> {
    this.closing = true;
    const all = [...this.live];
    this.live.clear();
    await Promise.all(all.map((a) => a.withdraw().catch(() => undefined)));
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '' || host === '::0';
}
