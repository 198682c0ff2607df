import { performance } from 'node:perf_hooks';
import { ClosedError } from '../../core/errors.js';
import type { StatsRegistry } from '../../stats/registry.js';
import { endpointKey, type Endpoint } from '../endpoint.js';
import { readMember, type MemberReading } from '../member.js';
import { observer, type DiscoveryLog, type Observer } from '../observe.js';
import type { ServerSet } from '../serverset.js';
import { zkCode, type ZkWatcher } from './library.js';
import { ZkSession, type ZkSessionOptions } from './session.js';
import { parseZkUri, type ZkUri } from './uri.js';

export interface ZkServerSetOptions extends ZkSessionOptions {
  /** Where state changes and skipped records are told (default: one line each on stderr; false: nowhere). */
  log?: DiscoveryLog | false;
  /** Where the set counts (scope `discovery=<uri>`; default: the shared `discoveryStats`). */
  stats?: StatsRegistry;
  /** Wait before retrying a read that failed while connected, ms (default 1000). */
  retryDelayMs?: number;
}

/** Member changes logged one by one per update; the rest are summed up in one line. */
const MEMBER_LINES_PER_UPDATE = 20;

/** Only these children of the serverset path are members (Finagle, Aurora). */
const MEMBER_PREFIX = 'member_';

/**
 * A `zk://` serverset followed live. Members are keyed by their znode (two members with one
 * endpoint are two members: either leaving keeps the endpoint), a bad record is skipped with a
 * warning and never stops the rest, only ALIVE members take traffic, and a member's data is
 * watched too (a status change is seen). ZooKeeper being away never changes the set: it changes
 * only on what ZooKeeper answers (a deleted path is an empty set; a lost connection is not).
 */
export class ZkServerSet implements ServerSet {
  readonly uri: ZkUri;
  private readonly session: ZkSession;
  private readonly obs: Observer;
  private readonly listeners = new Set<(addresses: readonly Endpoint[]) => void>();
  /** What each member node's data said, by node name. */
  private readonly members = new Map<string, MemberReading>();
  private current: readonly Endpoint[] = [];
  private currentKeys = new Set<string>();
  private closed = false;
  private pathExists: boolean | undefined = undefined;
  /** Bumped on each (re)connect: refreshes of an older epoch stop and change nothing. */
  private epoch = 0;
  private refreshing = false;
  private dirty = false;
  private retryTimer: NodeJS.Timeout | undefined = undefined;
  private readonly retryDelayMs: number;
  private readonly dataWatchers = new Map<string, ZkWatcher>();
  private readonly readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private isReady = false;
  private logBudget = Number.POSITIVE_INFINITY;
  private unlogged = 0;

  constructor(uri: string | ZkUri, options: ZkServerSetOptions = {}) {
    this.uri = typeof uri === 'string' ? parseZkUri(uri) : uri;
    this.obs = observer(this.uri.raw, options.log, options.stats);
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    const scope = this.obs.scope;
    scope.gaugeFn('members', () => this.members.size);
    scope.gaugeFn('endpoints', () => this.current.length);
    this.session = new ZkSession(this.uri.connectString, this.obs, options);
    this.session.on((e) => {
      if (e.kind === 'connected') this.restart(e.newSession);
      else this.epoch++; // reads in flight fail or are stale; the set stays as it is
    });
  }

  get addresses(): readonly Endpoint[] {
    return this.current;
  }

  /** Node names of the members read now, valid or not (for tests and debugging). */
  get memberNames(): string[] {
    return [...this.members.keys()];
  }

  /** @internal the underlying session (tests force expiry through it). */
  get zkSession(): ZkSession {
    return this.session;
  }

  subscribe(listener: (addresses: readonly Endpoint[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once ZooKeeper has answered for the path the first time (members read, or the path is absent). */
  ready(): Promise<void> {
    if (this.isReady) return Promise.resolve();
    if (this.closed) return Promise.reject(new ClosedError(`${this.uri.raw} is closed`));
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.epoch++;
    clearTimeout(this.retryTimer);
    this.listeners.clear();
    this.session.close();
    for (const w of this.readyWaiters.splice(0)) w.reject(new ClosedError(`${this.uri.raw} is closed`));
  }

  /** A (re)connect: re-read everything (a new session has no watches; a reconnect may have missed events). */
  private restart(newSession: boolean): void {
    if (this.closed) return;
    this.epoch++;
    this.refreshing = false;
    if (newSession) this.dataWatchers.clear(); // the new client has none of them
    this.refresh(true);
  }

  private readonly pathWatcher: ZkWatcher = () => this.refresh(false);

  /** Runs one refresh at a time; a request while one runs makes it run again after. */
  private refresh(readAll: boolean): void {
    if (this.closed) return;
    if (this.refreshing) {
      this.dirty = true;
      return;
    }
    this.refreshing = true;
    void this.refreshLoop(this.epoch, readAll);
  }

  private async refreshLoop(epoch: number, readAll: boolean): Promise<void> {
    let all = readAll;
    do {
      this.dirty = false;
      try {
        await this.refreshOnce(epoch, all);
      } catch (err) {
        if (epoch !== this.epoch) return;
        this.obs.scope.counter('refresh_errors').incr();
        this.obs.log('warn', `reading ${this.uri.path} failed (${String((err as Error).message ?? err)}); keeping the last known set`);
        // Disconnected: the reconnect restarts the refresh. Still connected: try again shortly.
        if (this.session.isConnected) {
          clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => this.refresh(true), this.retryDelayMs);
          this.retryTimer.unref?.();
        }
        break;
      }
      if (epoch !== this.epoch) return;
      all = false;
    } while (this.dirty);
    if (epoch === this.epoch) this.refreshing = false;
  }

  /** Reads the path, its member children, and the data of members not read yet (or all of them). */
  private async refreshOnce(epoch: number, readAll: boolean): Promise<void> {
    const start = performance.now();
    const path = this.uri.path;
    const stat = await this.session.exists(path, this.pathWatcher);
    if (epoch !== this.epoch) return;
    let names: string[] = [];
    if (stat !== null) {
      try {
        names = (await this.session.getChildren(path, this.pathWatcher)).filter((n) => n.startsWith(MEMBER_PREFIX));
      } catch (err) {
        if (this.session.library.Exception.NO_NODE !== zkCode(err)) throw err;
        return this.refresh(false); // deleted between the two reads: the exists watch is set, read again
      }
    }
    if (epoch !== this.epoch) return;
    this.notePath(stat !== null);
    const wanted = new Set(names);
    const toRead = readAll ? names : names.filter((n) => !this.members.has(n));
    const readings = await Promise.all(toRead.map((n) => this.readOne(n)));
    if (epoch !== this.epoch) return;
    this.logBudget = MEMBER_LINES_PER_UPDATE;
    this.unlogged = 0;
    let joined = 0;
    let left = 0;
    for (let i = 0; i < toRead.length; i++) {
      const name = toRead[i]!;
      const reading = readings[i];
      if (reading === undefined || !wanted.has(name)) continue; // gone meanwhile
      if (this.setMember(name, reading)) joined++;
    }
    for (const name of [...this.members.keys()]) {
      if (!wanted.has(name)) {
        this.members.delete(name);
        this.dataWatchers.delete(name);
        left++;
        this.memberLog('info', `member ${name} left`);
      }
    }
    this.obs.scope.counter('members_joined').incr(joined);
    this.obs.scope.counter('members_left').incr(left);
    this.obs.scope.counter('refreshes').incr();
    if (this.unlogged > 0) this.obs.log('info', `${this.unlogged} more member change(s) in this update (counted, not logged one by one)`);
    this.logBudget = Number.POSITIVE_INFINITY;
    this.publish();
    this.obs.scope.histogram('refresh_ms').add(performance.now() - start);
    this.markReady();
  }

  /** Reads one member's data and watches it; undefined when the node is gone. */
  private async readOne(name: string): Promise<MemberReading | undefined> {
    const got = await this.session.getData(`${this.uri.path}/${name}`, this.dataWatcher(name));
    return got === undefined ? undefined : readMember(got.data, this.uri.endpointName);
  }

  /** One watcher per member (the library deduplicates by function): a data change re-reads it, a delete drops it. */
  private dataWatcher(name: string): ZkWatcher {
    let w = this.dataWatchers.get(name);
    if (w === undefined) {
      w = () => void this.rereadMember(name, this.epoch);
      this.dataWatchers.set(name, w);
    }
    return w;
  }

  private async rereadMember(name: string, epoch: number): Promise<void> {
    if (this.closed || !this.members.has(name)) return;
    let reading: MemberReading | undefined;
    try {
      reading = await this.readOne(name);
    } catch (err) {
      if (epoch === this.epoch) this.obs.log('warn', `re-reading member ${name} failed (${String((err as Error).message ?? err)}); keeping what it said`);
      return; // a reconnect re-reads every member
    }
    if (epoch !== this.epoch || !this.members.has(name)) return;
    if (reading === undefined) {
      this.members.delete(name);
      this.dataWatchers.delete(name);
      this.obs.scope.counter('members_left').incr();
      this.obs.log('info', `member ${name} left`);
    } else {
      this.setMember(name, reading);
    }
    this.publish();
  }

  /** One line per member change, at most MEMBER_LINES_PER_UPDATE per refresh (1,000 joins at start are one summary). */
  private memberLog(level: 'info' | 'warn', message: string): void {
    if (this.logBudget-- > 0) this.obs.log(level, message);
    else this.unlogged++;
  }

  /** Records what a member says; logs what changed. Returns true for a member not known before. */
  private setMember(name: string, reading: MemberReading): boolean {
    const before = this.members.get(name);
    this.members.set(name, reading);
    if (before !== undefined && sameReading(before, reading)) return false;
    if (reading.kind === 'bad') {
      this.obs.scope.counter('members_skipped').incr();
      this.memberLog('warn', `member ${name} skipped: ${reading.reason}`);
    } else if (reading.kind === 'not-alive') {
      this.memberLog('info', `member ${name} is ${reading.status}: no traffic`);
    } else {
      this.memberLog('info', `member ${name} ${before === undefined ? 'joined' : 'is now'} ALIVE at ${endpointKey(reading.endpoint)}`);
    }
    return before === undefined;
  }

  private notePath(exists: boolean): void {
    if (this.pathExists === exists) return;
    if (this.pathExists !== undefined || !exists) this.obs.log('info', exists ? `path ${this.uri.path} appeared` : `path ${this.uri.path} does not exist (yet): watching for it`);
    this.pathExists = exists;
  }

  /** Recomputes the routable endpoints (ALIVE members, one endpoint per key) and tells subscribers if they changed. */
  private publish(): void {
    const next: Endpoint[] = [];
    const keys = new Set<string>();
    for (const reading of this.members.values()) {
      if (reading.kind !== 'alive') continue;
      const key = endpointKey(reading.endpoint);
      if (keys.has(key)) continue;
      keys.add(key);
      next.push(reading.endpoint);
    }
    let added = 0;
    for (const k of keys) if (!this.currentKeys.has(k)) added++;
    const removed = this.currentKeys.size - (keys.size - added);
    if (added === 0 && removed === 0) return;
    this.current = next;
    this.currentKeys = keys;
    this.obs.scope.counter('endpoints_added').incr(added);
    this.obs.scope.counter('endpoints_removed').incr(removed);
    this.obs.log('info', `set changed: +${added} -${removed}, ${next.length} endpoint(s)`);
    for (const l of [...this.listeners]) {
      try {
        l(next);
      } catch (err) {
        this.obs.log('error', `a subscriber threw: ${String(err)}`);
      }
    }
  }

  private markReady(): void {
    if (this.isReady) return;
    this.isReady = true;
    for (const w of this.readyWaiters.splice(0)) w.resolve();
  }
}

function sameReading(a: MemberReading, b: MemberReading): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'alive' && b.kind === 'alive') return endpointKey(a.endpoint) === endpointKey(b.endpoint) && a.shard === b.shard;
  if (a.kind === 'not-alive' && b.kind === 'not-alive') return a.status === b.status;
  return a.kind === 'bad' && b.kind === 'bad' && a.reason === b.reason;
}
