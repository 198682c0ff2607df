/**
 * A broker process a test can stop, kill and start again on the same port and data dir (the
 * queue tests' Redis and NATS): the lifecycle both share, around how each one is launched.
 */
import { startProcess, type ProcessHandle, type StartOptions } from './process.js';
import type { TempDir } from './tmp.js';

export interface RestartableServer {
  readonly port: number;
  /** `scheme://127.0.0.1:port` */
  readonly url: string;
  readonly dir: string;
  /** Stops (SIGTERM, or SIGKILL with `kill`) and starts again on the same port and data after `downMs`. */
  restart(options?: { kill?: boolean; downMs?: number }): Promise<void>;
  stop(options?: { kill?: boolean }): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Starts `process` (again on every start/restart) with `dir` as its home; removes `dir` on close. */
export async function startRestartable(url: string, port: number, dir: TempDir, process: StartOptions): Promise<RestartableServer> {
  let proc: ProcessHandle | undefined;
  const launch = async (): Promise<void> => {
    proc = await startProcess(process);
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
    url,
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
