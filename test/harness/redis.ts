/**
 * A real Redis (Debian's `redis-server` 7) for tests: its own temp dir and free port. `restart()`
 * stops it (SIGTERM, or SIGKILL with `{ kill: true }`) and starts it again on the same port and
 * dir; with `durable: true` it runs with `--appendonly yes --appendfsync always`, so everything
 * it acknowledged survives. `scripts/setup.sh` installs the package.
 */
import { existsSync } from 'node:fs';
import { freePort } from './ports.js';
import { type RestartableServer, startRestartable } from './restartable.js';
import { tempDir } from './tmp.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

export type RedisServer = RestartableServer;

export function redisAvailable(): boolean {
  return existsSync(REDIS_SERVER);
}

export async function startRedis(options: { durable?: boolean } = {}): Promise<RedisServer> {
  const dir = tempDir('scales-redis');
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir.path, '--save', '', '--daemonize', 'no', '--protected-mode', 'no'];
  if (options.durable) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--appendonly', 'no');
  return startRestartable(`redis://127.0.0.1:${port}`, port, dir, { cmd: REDIS_SERVER, args, cwd: dir.path, ready: /Ready to accept connections/, timeoutMs: 20_000, graceMs: 5000 });
}
