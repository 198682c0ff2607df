// Start/kill/restart test backends (test/peers/scales_backend.ts) as separate processes.
import { join } from 'node:path';
import { startProcess, type ProcessHandle } from './process.js';

export type BackendProtocol = 'thrift' | 'http';
export type BackendMode = 'serve' | 'blackhole' | 'fail';

export interface BackendOptions {
  protocol: BackendProtocol;
  /** 0 = any free port; pass the old port to restart a killed backend in place. */
  port?: number;
  latencyMs?: number;
  mode?: BackendMode;
  /** Returned by the backend so tests can count which node served a call. */
  name?: string;
}

export interface Backend {
  readonly port: number;
  readonly name: string;
  readonly process: ProcessHandle;
  /** SIGKILL, no goodbye: in-flight calls see a dead socket. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

const SCRIPT = join(import.meta.dirname, '../peers/scales_backend.ts');

export async function startBackend(opts: BackendOptions): Promise<Backend> {
  const name = opts.name ?? `b${Math.random().toString(36).slice(2, 8)}`;
  const args = ['--import', 'tsx', SCRIPT, '--protocol', opts.protocol, '--port', String(opts.port ?? 0), '--latency-ms', String(opts.latencyMs ?? 0), '--mode', opts.mode ?? 'serve', '--name', name];
  const proc = await startProcess({ cmd: process.execPath, args, ready: /^READY (\d+)$/, timeoutMs: 20_000, graceMs: 1000 });
  return {
    port: Number(proc.readyMatch![1]),
    name,
    process: proc,
    async kill9() {
      proc.kill('SIGKILL');
      await proc.exited;
    },
    async stop() {
      await proc.stop();
    },
  };
}
