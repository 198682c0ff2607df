/**
 * A real NATS server with JetStream (Debian's `nats-server` 2.9) for tests: its own temp dir
 * (the JetStream store) and free port, ready in well under a second. `restart()` stops it
 * (SIGTERM, or SIGKILL with `{ kill: true }`) and starts it again on the same port and store.
 * `scripts/setup.sh` installs the package.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { startProcess, type ProcessHandle } from './process.js';
import { tempDir } from './tmp.js';

export const NATS_SERVER = '/usr/sbin/nats-server';

export interface NatsServer {
  readonly port: number;
  /** `nats://127.0.0.1:port` */
  readonly url: string;
  readonly dir: string;
  stop(options?: { kill?: boolean }): Promise<void>;
  start(): Promise<void>;
  /** Stops and starts again on the same port and store after `downMs`. */
  restart(options?: { kill?: boolean; downMs?: number }): Promise<void>;
  close(): Promise<void>;
}

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
  let proc: ProcessHandle | undefined;
  const launch = async (): Promise<void> => {
    proc = await startProcess({ cmd: NATS_SERVER, args, cwd: dir.path, ready: /Server is ready/, timeoutMs: 20_000, graceMs: 5000 });
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
    url: `nats://127.0.0.1:${port}`,
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
