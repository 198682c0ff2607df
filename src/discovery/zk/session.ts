import type { Observer } from '../observe.js';
import { ZK_STATE, zkCode, zkLibrary, type ZkClient, type ZkLibrary, type ZkStat, type ZkWatcher } from './library.js';

export interface ZkSessionOptions {
  /** ZooKeeper session timeout asked of the server, ms (default 10000, Finagle's default; the server bounds it to 2–20 ticks). */
  sessionTimeoutMs?: number;
  /** Longest wait between connection attempts once every server was tried, ms (default 1000). */
  spinDelayMs?: number;
}

/** How often a session not connected looks for a connect request left unanswered. */
const STALL_CHECK_MS = 500;
/** The library's connection manager state while it waits for a connect answer. */
const LIBRARY_CONNECTING = 1;
/** How long a closed session's close request may take before its socket is dropped. */
const CLOSE_GRACE_MS = 1000;

/** The library internals the stall check and close need (absent in another version: both then do nothing). */
function connectionManager(client: ZkClient): { state?: number; socket?: { readyState?: string; destroy(): void } } | undefined {
  return (client as unknown as { connectionManager?: { state?: number; socket?: { readyState?: string; destroy(): void } } }).connectionManager;
}

/** What a session tells its owner. `connected` carries whether it is a new session (watches and ephemeral nodes are gone). */
export type ZkSessionEvent = { readonly kind: 'connected'; readonly newSession: boolean } | { readonly kind: 'disconnected' } | { readonly kind: 'expired' };

/**
 * One logical ZooKeeper session that outlives the library's: the library reconnects by itself
 * after a disconnect (same session, watches kept), but an expired session is dead for good, so
 * here a new client replaces it and the owner hears `connected` with `newSession: true` (re-read
 * everything, re-create ephemeral nodes). Promises instead of callbacks; watchers as the library
 * has them (one-shot, deduplicated by function).
 */
export class ZkSession {
  private readonly lib: ZkLibrary;
  private client: ZkClient;
  private closed = false;
  private connected = false;
  /** Whether the next `connected` is on a session the owner has not seen. */
  private fresh = true;
  private readonly listeners: ((e: ZkSessionEvent) => void)[] = [];
  private readonly timeoutMs: number;
  private readonly spinDelayMs: number;
  private watchdog: NodeJS.Timeout | undefined = undefined;
  private stalledSocket: object | undefined = undefined;
  private stalledSince = 0;

  constructor(
    readonly connectString: string,
    private readonly obs: Observer,
    options: ZkSessionOptions = {},
  ) {
    this.lib = zkLibrary();
    this.timeoutMs = options.sessionTimeoutMs ?? 10_000;
    this.spinDelayMs = options.spinDelayMs ?? 1000;
    obs.scope.gaugeFn('zk_connected', () => (this.connected ? 1 : 0));
    this.client = this.open();
    this.watchdog = setInterval(() => this.checkStall(), STALL_CHECK_MS);
    this.watchdog.unref?.();
  }

  /**
   * The library waits forever for the answer to its connect request: a server that accepts the
   * connection and never answers (seen when ZooKeeper restarts) leaves it connecting for good. A
   * connection that stays unanswered this long is dropped, so the library tries again (same
   * session, watches kept).
   */
  private checkStall(): void {
    if (this.closed || this.connected) {
      this.stalledSocket = undefined;
      return;
    }
    const cm = connectionManager(this.client);
    const socket = cm?.socket;
    if (cm?.state !== LIBRARY_CONNECTING || socket === undefined || socket.readyState !== 'open') {
      this.stalledSocket = undefined;
      return;
    }
    const now = Date.now();
    if (this.stalledSocket !== socket) {
      this.stalledSocket = socket;
      this.stalledSince = now;
    } else if (now - this.stalledSince >= this.stallMs) {
      this.stalledSocket = undefined;
      this.obs.scope.counter('zk_connect_stalls').incr();
      this.obs.log('warn', `no answer to the connect request for ${now - this.stalledSince} ms; reconnecting`);
      socket.destroy();
    }
  }

  private get stallMs(): number {
    return Math.max(2000, Math.floor(this.timeoutMs / 3));
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** The library's constants (create modes, error codes). */
  get library(): ZkLibrary {
    return this.lib;
  }

  /** Hex id of the current session (for logs and tests); zeros before the first connect. */
  get sessionId(): string {
    return this.client.getSessionId().toString('hex');
  }

  /** @internal for tests that force an expiry: the current session's id and password. */
  credentials(): { id: Buffer; password: Buffer } {
    return { id: this.client.getSessionId(), password: this.client.getSessionPassword() };
  }

  on(listener: (e: ZkSessionEvent) => void): void {
    this.listeners.push(listener);
  }

  private open(): ZkClient {
    const client = this.lib.createClient(this.connectString, { sessionTimeout: this.timeoutMs, spinDelay: this.spinDelayMs, retries: 0 });
    client.on('state', (state) => {
      if (this.closed || client !== this.client) return; // a replaced client's last words
      this.onState(state.code);
    });
    this.obs.log('info', `connecting to ${this.connectString}`);
    client.connect();
    return client;
  }

  private onState(code: number): void {
    const scope = this.obs.scope;
    if (code === ZK_STATE.SYNC_CONNECTED || code === ZK_STATE.CONNECTED_READ_ONLY) {
      this.connected = true;
      const newSession = this.fresh;
      this.fresh = false;
      scope.counter(newSession ? 'zk_sessions' : 'zk_reconnects').incr();
      this.obs.log('info', `${newSession ? 'connected, session' : 'reconnected, same session'} 0x${this.sessionId}${code === ZK_STATE.CONNECTED_READ_ONLY ? ' (read-only server)' : ''}`);
      this.emit({ kind: 'connected', newSession });
    } else if (code === ZK_STATE.DISCONNECTED) {
      if (!this.connected) return;
      this.connected = false;
      scope.counter('zk_disconnects').incr();
      this.obs.log('warn', 'disconnected from ZooKeeper; keeping the last known set while reconnecting');
      this.emit({ kind: 'disconnected' });
    } else if (code === ZK_STATE.EXPIRED) {
      this.connected = false;
      this.fresh = true;
      scope.counter('zk_expirations').incr();
      this.obs.log('warn', 'session expired; opening a new session (the last known set stays in use)');
      this.emit({ kind: 'expired' });
      const old = this.client;
      this.client = this.open();
      old.close();
    } else if (code === ZK_STATE.AUTH_FAILED) {
      scope.counter('zk_auth_failures').incr();
      this.obs.log('error', 'authentication failed');
    }
  }

  private emit(e: ZkSessionEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.obs.log('error', `session listener threw: ${String(err)}`);
      }
    }
  }

  exists(path: string, watcher: ZkWatcher): Promise<ZkStat | null> {
    return new Promise((resolve, reject) => this.client.exists(path, watcher, (err, stat) => (err ? reject(err) : resolve(stat))));
  }

  getChildren(path: string, watcher: ZkWatcher): Promise<string[]> {
    return new Promise((resolve, reject) => this.client.getChildren(path, watcher, (err, children) => (err ? reject(err) : resolve(children))));
  }

  /** The node's data and stat; `undefined` when it does not exist. */
  getData(path: string, watcher?: ZkWatcher): Promise<{ data: Buffer | null; stat: ZkStat } | undefined> {
    return new Promise((resolve, reject) => {
      const cb = (err: Error | null, data: Buffer | null, stat: ZkStat) => {
        if (err === null) resolve({ data, stat });
        else if (zkCode(err) === this.lib.Exception.NO_NODE) resolve(undefined);
        else reject(err);
      };
      if (watcher === undefined) this.client.getData(path, cb);
      else this.client.getData(path, watcher, cb);
    });
  }

  create(path: string, data: Buffer, mode: number): Promise<string> {
    return new Promise((resolve, reject) => this.client.create(path, data, mode, (err, created) => (err ? reject(err) : resolve(created))));
  }

  mkdirp(path: string): Promise<void> {
    return new Promise((resolve, reject) => this.client.mkdirp(path, (err) => (err ? reject(err) : resolve())));
  }

  /** Deletes the node; resolves false when it was already gone. */
  remove(path: string): Promise<boolean> {
    return new Promise((resolve, reject) =>
      this.client.remove(path, -1, (err) => {
        if (err === null) resolve(true);
        else if (zkCode(err) === this.lib.Exception.NO_NODE) resolve(false);
        else reject(err);
      }),
    );
  }

  /** True when `owner` (a stat's ephemeralOwner) is this session. */
  owns(stat: ZkStat): boolean {
    return Buffer.compare(stat.ephemeralOwner, this.client.getSessionId()) === 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    clearInterval(this.watchdog);
    const client = this.client;
    client.close();
    // The close request goes out only on a live connection; one that is still connecting (or
    // stalled) would otherwise stay open and keep the process alive.
    setTimeout(() => connectionManager(client)?.socket?.destroy(), CLOSE_GRACE_MS).unref?.();
    this.obs.log('info', 'closed');
  }
}
