/**
 * A real NATS server with JetStream (Debian's `nats-server` 2.9) for tests: its own temp dir
 * (the JetStream store) and free port, ready in well under a second. `restart()` stops it
 * (SIGTERM, or SIGKILL with `{ kill: true }`) and starts it again on the same port and store.
 * `scripts/setup.sh` installs the package.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { type RestartableServer, startRestartable } from './restartable.js';
import { tempDir } from './tmp.js';

export const NATS_SERVER = '/usr/sbin/nats-server';

export type NatsServer = RestartableServer;

export function natsAvailable(): boolean {
  if (!existsSync(NATS_SERVER)) return false;
  try {
    import.meta.resolve('nats');
    return true;
  } catch {
    return false;
  }
}

export async function startNats(): Promise<NatsServer> {
  const dir = tempDir('scales-nats');
  const port = await freePort();
  const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir.path, 'js'), '-n', `scales-test-${port}`];
  return startRestartable(`nats://127.0.0.1:${port}`, port, dir, { cmd: NATS_SERVER, args, cwd: dir.path, ready: /Server is ready/, timeoutMs: 20_000, graceMs: 5000 });
}
