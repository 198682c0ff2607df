import { createRequire } from 'node:module';
import { InvalidArgumentError } from '../../core/errors.js';

/**
 * The part of `node-zookeeper-client` Scales uses, typed here so that the published types never
 * name the library: it is an optional peer dependency, loaded only when a `zk://` set or
 * announcement is made, so users without ZooKeeper never need it.
 */
export interface ZkLibrary {
  createClient(connectString: string, options: { sessionTimeout: number; spinDelay: number; retries: number; sessionId?: Buffer; sessionPassword?: Buffer }): ZkClient;
  readonly CreateMode: { readonly PERSISTENT: number; readonly EPHEMERAL_SEQUENTIAL: number };
  readonly Exception: { readonly NO_NODE: number; readonly NODE_EXISTS: number; readonly CONNECTION_LOSS: number; readonly SESSION_EXPIRED: number };
}

export interface ZkStat {
  readonly ephemeralOwner: Buffer;
}

export interface ZkEvent {
  getType(): number;
  getName(): string;
  getPath(): string;
}

export type ZkWatcher = (event: ZkEvent) => void;
export type ZkError = Error & { getCode?: () => number };

export interface ZkClient {
  connect(): void;
  close(): void;
  on(event: 'state', listener: (state: { name: string; code: number }) => void): void;
  getSessionId(): Buffer;
  getSessionPassword(): Buffer;
  getSessionTimeout(): number;
  exists(path: string, watcher: ZkWatcher, cb: (err: ZkError | null, stat: ZkStat | null) => void): void;
  getChildren(path: string, watcher: ZkWatcher, cb: (err: ZkError | null, children: string[]) => void): void;
  getData(path: string, watcher: ZkWatcher | undefined, cb: (err: ZkError | null, data: Buffer | null, stat: ZkStat) => void): void;
  getData(path: string, cb: (err: ZkError | null, data: Buffer | null, stat: ZkStat) => void): void;
  create(path: string, data: Buffer | undefined, mode: number, cb: (err: ZkError | null, path: string) => void): void;
  mkdirp(path: string, cb: (err: ZkError | null, path: string) => void): void;
  remove(path: string, version: number, cb: (err: ZkError | null) => void): void;
}

/** The library's state codes (`State` in node-zookeeper-client). */
export const ZK_STATE = { DISCONNECTED: 0, SYNC_CONNECTED: 3, AUTH_FAILED: 4, CONNECTED_READ_ONLY: 5, EXPIRED: -122 } as const;

export const ZK_LIBRARY = 'node-zookeeper-client';
let loaded: ZkLibrary | undefined;

/** Loads the client library on first use; a clear error naming the package when it is missing. */
export function zkLibrary(): ZkLibrary {
  if (loaded !== undefined) return loaded;
  try {
    loaded = createRequire(import.meta.url)(ZK_LIBRARY) as ZkLibrary;
  } catch (err) {
    throw new InvalidArgumentError(`zk:// needs the '${ZK_LIBRARY}' package: npm install ${ZK_LIBRARY}`, { cause: err });
  }
  return loaded;
}

/** The error's ZooKeeper code (NO_NODE, CONNECTION_LOSS...), or undefined for other errors. */
export function zkCode(err: unknown): number | undefined {
  const get = (err as ZkError | null)?.getCode;
  return typeof get === 'function' ? get.call(err) : undefined;
}
