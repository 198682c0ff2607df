// Helpers for tests against a real ZooKeeper: a plain writer client (what other servers would be),
// forcing a session's expiry, and waiting for a condition.
import net from 'node:net';
import { until } from '../harness/wait.js';
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
 * A TCP proxy in front of ZooKeeper, so a test can cut one client off (`block`: every connection
 * through it is dropped and new ones are refused) without touching the server.
 */
export interface ZkProxy {
  readonly port: number;
  block(): void;
  unblock(): void;
  /** New connections are accepted and never answered (a server that hangs while starting), until `unblock`. */
  hold(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<ZkProxy> {
  let blocked = false;
  let holding = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    if (blocked) return inbound.destroy();
    if (holding) {
      sockets.add(inbound);
      inbound.on('error', () => undefined);
      inbound.on('close', () => sockets.delete(inbound));
      return;
    }
    const outbound = net.connect(targetPort, '127.0.0.1');
    for (const [a, b] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    block() {
      blocked = true;
      for (const s of sockets) s.destroy();
    },
    unblock() {
      blocked = false;
      holding = false;
    },
    hold() {
      holding = true;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/**
 * Expires a session the way the ZooKeeper FAQ describes: a second client joins it with its id and
 * password and closes it. Its owner connects through `proxy`, blocked meanwhile so that it cannot
 * win the session back first; unblocked, it reconnects and is told the session expired.
 */
export async function expireSession(connectString: string, proxy: ZkProxy, credentials: { id: Buffer; password: Buffer }): Promise<void> {
  proxy.block();
  try {
    const twin = zkLibrary().createClient(connectString, { sessionTimeout: 4000, spinDelay: 200, retries: 0, sessionId: credentials.id, sessionPassword: credentials.password });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('expireSession: the twin never connected')), 10_000);
      twin.on('state', (s) => {
        if (s.code === 3 || s.code === -122) {
          clearTimeout(timer);
          resolve();
        }
      });
      twin.connect();
    });
    twin.close();
    // The close is answered before the twin's socket ends; give it that long.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    proxy.unblock();
  }
}

export const waitFor = (what: string, cond: () => boolean, timeoutMs = 10_000): Promise<number> => until(what, cond, timeoutMs, 10);

/** A member record exactly as Finagle writes it. */
export function finagleMember(host: string, port: number, extra: { shard?: number; additional?: Record<string, { host: string; port: number }>; status?: string } = {}): string {
  return JSON.stringify({ serviceEndpoint: { host, port }, additionalEndpoints: extra.additional ?? {}, status: extra.status ?? 'ALIVE', shard: extra.shard ?? 0 });
}
