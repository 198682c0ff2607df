/**
 * The part of `ioredis` (an optional peer dependency) the Redis backend uses, typed here so the
 * published types never name the package, and loaded on first use with a clear error naming it.
 */
import { createRequire } from 'node:module';
import { InvalidArgumentError } from '../../../core/errors.js';

export type RedisArg = string | Buffer | number;

export interface RedisCommands<Self> {
  call(command: string, ...args: RedisArg[]): Self;
  callBuffer(command: string, ...args: RedisArg[]): Self;
}

export interface RedisBatch extends RedisCommands<RedisBatch> {
  /** One [error, reply] per command; null when a MULTI was aborted. */
  exec(): Promise<[Error | null, unknown][] | null>;
}

export interface RedisConnection {
  call(command: string, ...args: RedisArg[]): Promise<unknown>;
  callBuffer(command: string, ...args: RedisArg[]): Promise<unknown>;
  pipeline(): RedisBatch;
  multi(): RedisBatch;
  readonly status: string;
  on(event: 'error', listener: (err: Error) => void): void;
  once(event: 'ready', listener: () => void): void;
  once(event: 'error' | 'end', listener: (err?: Error) => void): void;
  quit(): Promise<unknown>;
  disconnect(): void;
}

export interface RedisConnectionOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: object;
  /** RESP version (ioredis 6; 5 ignores it and speaks 2). */
  protocol?: 2 | 3;
  /** Fail commands at once while disconnected, rather than queueing them without bound. */
  enableOfflineQueue: boolean;
  /** Commands in flight when the connection drops are failed, not re-sent after reconnecting. */
  maxRetriesPerRequest: number | null;
  commandTimeout?: number;
  connectTimeout?: number;
  connectionName?: string;
  retryStrategy?: (times: number) => number | null;
  lazyConnect?: boolean;
}

type RedisConstructor = new (options: RedisConnectionOptions) => RedisConnection;

export const REDIS_LIBRARY = 'ioredis';
let loaded: RedisConstructor | undefined;

export function redisLibrary(): RedisConstructor {
  if (loaded !== undefined) return loaded;
  let mod: { Redis?: RedisConstructor; default?: RedisConstructor };
  try {
    mod = createRequire(import.meta.url)(REDIS_LIBRARY) as typeof mod;
  } catch (err) {
    throw new InvalidArgumentError(`redis:// queues need the '${REDIS_LIBRARY}' package: npm install ${REDIS_LIBRARY}`, { cause: err });
  }
  loaded = mod.Redis ?? mod.default ?? (mod as unknown as RedisConstructor);
  return loaded;
}
