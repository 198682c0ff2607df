// Helpers for tests against a real ZooKeeper: a plain writer client (what other servers would be),
// forcing a session's expiry, and waiting for a condition.
import { zkLibrary, type ZkClient } from '../../src/discovery/zk/library.js';

export const EPHEMERAL_SEQUENTIAL = 3;
export const PERSISTENT = 0;

/** A raw node-zookeeper-client connection with promise methods. */
export class ZkWriter {
  private constructor(readonly client: ZkClient & RawExtras) {}

  static async connect(connectString: string, options: { sessionTimeout?: number; sessionId?: Buffer; sessionPassword?: Buffer } = {}): Promise<ZkWriter> {
    const client = zkLibrary().createClient(connectString, {
      sessionTimeout: options.sessionTimeout ?? 4000,
      spinDelay: 200,
      retries: 0,
      sessionId: options.sessionId,
      sessionPassword: options.sessionPassword,
    }) as ZkClient & RawExtras;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('writer: no connection within 10 s')), 10_000);
      client.on('state', (s) => {
        if (s.code === 3) {
          clearTimeout(timer);
          resolve();
        }
      });
      client.connect();
    });
    return new ZkWriter(client);
  }

  mkdirp(path: string): Promise<void> {
    return new Promise((resolve, reject) => this.client.mkdirp(path, (err) => (err ? reject(err) : resolve())));
  }

  /** Creates `path` (ephemeral sequential by default) with `data`; returns the node's path. */
  create(path: string, data: string | Buffer, mode = EPHEMERAL_SEQUENTIAL): Promise<string> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    return new Promise((resolve, reject) => this.client.create(path, buf, mode, (err, p) => (err ? reject(err) : resolve(p))));
  }

  setData(path: string, data: string): Promise<void> {
    return new Promise((resolve, reject) => this.client.setData(path, Buffer.from(data), -1, (err) => (err ? reject(err) : resolve())));
  }

  getData(path: string): Promise<Buffer> {
    return new Promise((resolve, reject) => this.client.getData(path, (err, data) => (err ? reject(err) : resolve(data ?? Buffer.alloc(0)))));
  }

  children(path: string): Promise<string[]> {
    return new Promise((resolve, reject) =>
      this.client.getChildren(
        path,
        () => {},
        (err, c) => (err ? reject(err) : resolve(c)),
      ),
    );
  }

  remove(path: string): Promise<void> {
    return new Promise((resolve, reject) => this.client.remove(path, -1, (err) => (err ? reject(err) : resolve())));
  }

  removeRecursive(path: string): Promise<void> {
    return new Promise((resolve, reject) => this.client.removeRecursive(path, -1, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    this.client.close();
  }
}

interface RawExtras {
  setData(path: string, data: Buffer, version: number, cb: (err: Error | null) => void): void;
  removeRecursive(path: string, version: number, cb: (err: Error | null) => void): void;
}

/**
 * Expires a session the way the ZooKeeper FAQ describes: a second client joins it with its id and
 * password and closes it. The owner, whose connection the server dropped, may win the session
 * back before the close goes out; so this repeats until `expired()` says the owner saw it.
 */
export async function expireSession(connectString: string, credentials: () => { id: Buffer; password: Buffer }, expired: () => boolean): Promise<void> {
  const first = credentials();
  for (let attempt = 0; attempt < 10; attempt++) {
    const twin = await ZkWriter.connect(connectString, { sessionId: first.id, sessionPassword: first.password });
    twin.close();
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      if (expired()) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error('could not expire the session');
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

/** A member record exactly as Finagle writes it. */
export function finagleMember(host: string, port: number, extra: { shard?: number; additional?: Record<string, { host: string; port: number }>; status?: string } = {}): string {
  return JSON.stringify({ serviceEndpoint: { host, port }, additionalEndpoints: extra.additional ?? {}, status: extra.status ?? 'ALIVE', shard: extra.shard ?? 0 });
}
