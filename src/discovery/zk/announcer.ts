import { TimeoutError } from '../../core/errors.js';
import type { AnnounceOptions, Announcement } from '../announce.js';
import { endpointKey, type TcpEndpoint } from '../endpoint.js';
import { formatMember } from '../member.js';
import { observer, type Observer } from '../observe.js';
import { zkCode, type ZkWatcher } from './library.js';
import { ZkSession } from './session.js';
import { parseZkUri, type ZkUri } from './uri.js';

/** Longest a withdraw waits for ZooKeeper before closing the session anyway (which removes the node too). */
const WITHDRAW_WAIT_MS = 2000;
const RETRY_MS = 1000;
/** The watch event type of a deleted node. */
const NODE_DELETED = 2;

/**
 * A server's member node in a ZooKeeper serverset, written exactly as Finagle writes it: missing
 * parents created persistent with the open ACL, then one ephemeral sequential `member_` create
 * with the data in it. Re-created on a new session (after expiry); after a create whose answer
 * was lost, the node this session already made is found and kept rather than made twice.
 */
export class ZkAnnouncement implements Announcement {
  readonly uri: string;
  private readonly zk: ZkUri;
  private readonly data: Buffer;
  private readonly obs: Observer;
  private readonly session: ZkSession;
  private current: string | undefined = undefined;
  private withdrawn = false;
  private ensuring = false;
  private again = false;
  /** A create was sent but its answer lost: the node may exist. */
  private uncertain = false;
  private retryTimer: NodeJS.Timeout | undefined = undefined;
  private firstWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(uri: string, service: TcpEndpoint, options: AnnounceOptions = {}) {
    this.zk = parseZkUri(uri);
    this.uri = this.zk.raw;
    this.data = formatMember({ serviceEndpoint: service, additionalEndpoints: options.endpoints, shard: options.shard, metadata: options.metadata });
    this.obs = observer(`${this.uri} (${endpointKey(service)})`, options.log, options.stats, 'announce');
    this.session = new ZkSession(this.zk.connectString, this.obs, { sessionTimeoutMs: options.sessionTimeoutMs });
    this.session.on((e) => {
      if (e.kind === 'connected') {
        if (e.newSession) {
          // a new session owns no node: the old one went with the old session
          this.current = undefined;
          this.uncertain = false;
        }
        this.ensure();
      } else if (e.kind === 'expired' && this.current !== undefined) {
        this.obs.log('warn', `member ${this.current} went with the expired session; re-creating it`);
        this.current = undefined;
      }
    });
  }

  get node(): string | undefined {
    return this.current;
  }

  /** @internal the underlying session (tests force expiry through it). */
  get zkSession(): ZkSession {
    return this.session;
  }

  /** Resolves once the member exists the first time; rejects after `timeoutMs`. */
  registered(timeoutMs: number): Promise<void> {
    if (this.current !== undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError(`announcing into ${this.uri}: no member created within ${timeoutMs} ms`)), timeoutMs);
      this.firstWaiters.push({
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /** Makes sure our member exists (one run at a time; a request meanwhile runs it again). */
  private ensure(): void {
    if (this.withdrawn) return;
    if (this.ensuring) {
      this.again = true;
      return;
    }
    this.ensuring = true;
    void this.ensureLoop();
  }

  private async ensureLoop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.ensureOnce();
      } catch (err) {
        if (this.withdrawn) break;
        this.obs.scope.counter('errors').incr();
        this.obs.log('warn', `registering failed (${(err as Error).message}); ${this.session.isConnected ? 'retrying' : 'retrying on reconnect'}`);
        if (this.session.isConnected) {
          clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => this.ensure(), RETRY_MS);
        }
      }
    } while (this.again && !this.withdrawn);
    this.ensuring = false;
  }

  private async ensureOnce(): Promise<void> {
    if (this.current !== undefined) {
      const got = await this.session.getData(this.current);
      if (got !== undefined && this.session.owns(got.stat)) return;
      this.obs.log('warn', `member ${this.current} is gone; re-creating it`);
      this.current = undefined;
    }
    if (this.uncertain) {
      const mine = await this.findOwn();
      this.uncertain = false;
      if (mine !== undefined) return this.created(mine, 'kept (its create answer was lost)');
    }
    await this.session.mkdirp(this.zk.path);
    if (this.withdrawn) return;
    let node: string;
    try {
      node = await this.session.create(`${this.zk.path}/member_`, this.data, this.session.library.CreateMode.EPHEMERAL_SEQUENTIAL);
    } catch (err) {
      if (zkCode(err) === this.session.library.Exception.CONNECTION_LOSS) this.uncertain = true;
      throw err;
    }
    if (this.withdrawn) {
      await this.session.remove(node).catch(() => false);
      return;
    }
    this.created(node, 'created');
  }

  /** A member of this session with our data, if the server made one whose answer we lost. */
  private async findOwn(): Promise<string | undefined> {
    let children: string[];
    try {
      children = await this.session.getChildren(this.zk.path, () => {});
    } catch (err) {
      if (zkCode(err) === this.session.library.Exception.NO_NODE) return undefined;
      throw err;
    }
    for (const c of children.filter((n) => n.startsWith('member_'))) {
      const path = `${this.zk.path}/${c}`;
      const got = await this.session.getData(path);
      if (got !== undefined && got.data !== null && this.session.owns(got.stat) && got.data.equals(this.data)) return path;
    }
    return undefined;
  }

  private created(node: string, how: string): void {
    this.current = node;
    this.obs.scope.counter('registrations').incr();
    this.obs.log('info', `member ${node} ${how}`);
    for (const w of this.firstWaiters.splice(0)) w.resolve();
    // Deleted by someone else (an operator, a cleanup job): make it again.
    this.session.exists(node, this.nodeWatcher).catch(() => undefined);
  }

  private readonly nodeWatcher: ZkWatcher = (event) => {
    if (event.getType() === NODE_DELETED && !this.withdrawn && event.getPath() === this.current) this.ensure();
  };

  async withdraw(): Promise<void> {
    if (this.withdrawn) return;
    this.withdrawn = true;
    clearTimeout(this.retryTimer);
    const node = this.current;
    this.current = undefined;
    if (node !== undefined && this.session.isConnected) {
      let timer: NodeJS.Timeout | undefined;
      const removed = await Promise.race([
        this.session.remove(node).catch((err: Error) => {
          this.obs.log('warn', `removing ${node} failed (${err.message}); it goes with the session`);
          return false;
        }),
        new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), WITHDRAW_WAIT_MS))),
      ]);
      clearTimeout(timer);
      if (removed === true) this.obs.log('info', `member ${node} removed`);
    }
    this.obs.scope.counter('withdrawals').incr();
    this.session.close();
    for (const w of this.firstWaiters.splice(0)) w.reject(new TimeoutError(`announcement into ${this.uri} withdrawn before it was made`));
  }
}

/** The `zk` announcer: resolves once the member exists. */
export async function announceZk(uri: string, service: TcpEndpoint, options: AnnounceOptions): Promise<Announcement> {
  const a = new ZkAnnouncement(uri, service, options);
  try {
    await a.registered(options.timeoutMs ?? 10_000);
  } catch (err) {
    await a.withdraw();
    throw err;
  }
  return a;
}
