/**
 * A real Redis (Debian's `redis-server` 7) for tests: its own temp dir and free port. `restart()`
 * stops it (SIGTERM, or SIGKILL with `{ kill: true }`) and starts it again on the same port and
 * dir; with `durable: true` it runs with `--appendonly yes --appendfsync always`, so everything
 * it acknowledged survives. `scripts/setup.sh` installs the package.
 */
import { existsSync } from 'node:fs';
import { freePort } from './ports.js';
import { startProcess, type ProcessHandle } from './process.js';
import { tempDir } from './tmp.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:port` */
  readonly url: string;
  readonly dir: string;
  /** Stops (SIGTERM, or SIGKILL) and starts again on the same port and data after `downMs`. */
  restart(options?: { kill?: boolean; downMs?: number }): Promise<void>;
  stop(options?: { kill?: boolean }): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export function redisAvailable(): boolean {
  return existsSync(REDIS_SERVER);
}

export async function startRedis(options: { durable?: boolean } = {}): Promise<RedisServer> {
  const dir = tempDir('scales-redis');
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir.path, '--save', '', '--daemonize', 'no', '--protected-mode', 'no'];
  if (options.durable) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--appendonly', 'no');
  let proc: ProcessHandle | undefined;
  const launch = async (): Promise<void> => {
    proc = await startProcess({ cmd: REDIS_SERVER, args, cwd: dir.path, ready: /Ready to accept connections/, timeoutMs: 20_000, graceMs: 5000 });
  };
  const stop = async (o: { kill?: boolean } = {}): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (p === undefined) return;
    if (o.kill) {
      p.kill('SIGKILL');
      await p.exited;
    } else await p.stop();
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir: dir.path,
    stop,
    start: async () => {
      if (proc === undefined) await launch();
    },
    restart: async (o = {}) => {
      await stop(o);
      if (o.downMs) await new Promise((r) => setTimeout(r, o.downMs));
      await launch();
    },
    close: async () => {
      await stop();
      dir.remove();
    },
  };
}
