// Start/kill/restart test backends (test/peers/scales_backend.ts) as separate processes.
import { join } from 'node:path';
import { startProcess, type ProcessHandle } from './process.js';

export type BackendProtocol = 'thrift' | 'http';
export type BackendMode = 'serve' | 'blackhole' | 'fail' | 'reset';

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
  /** Requests received and (reset mode) connections accepted so far, asked of the process (SIGUSR2). */
  counts(): Promise<{ requests: number; connections: number }>;
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
    async counts() {
      const seen = (proc.output().match(/^COUNT \d+ \d+$/gm) ?? []).length;
      proc.kill('SIGUSR2');
      const stop = Date.now() + 5000;
      for (;;) {
        const all = proc.output().match(/^COUNT (\d+) (\d+)$/gm) ?? [];
        if (all.length > seen) {
          const [, r, c] = /^COUNT (\d+) (\d+)$/.exec(all[all.length - 1]!)!;
          return { requests: Number(r), connections: Number(c) };
        }
        if (Date.now() > stop) throw new Error(`backend ${name} did not print its counts:\n${proc.tail()}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

export interface BackendGroup {
  /** One entry per server, in order; servers are named `<name>.<i>`. */
  readonly ports: readonly number[];
  readonly names: readonly string[];
  readonly process: ProcessHandle;
  stop(): Promise<void>;
}

/** `count` servers (same protocol, mode and latency) in ONE backend process, on free ports. */
export async function startBackendGroup(opts: Omit<BackendOptions, 'port'> & { count: number }): Promise<BackendGroup> {
  const name = opts.name ?? `g${Math.random().toString(36).slice(2, 8)}`;
  const args = [
    '--import',
    'tsx',
    SCRIPT,
    '--protocol',
    opts.protocol,
    '--port',
    '0',
    '--latency-ms',
    String(opts.latencyMs ?? 0),
    '--mode',
    opts.mode ?? 'serve',
    '--name',
    name,
    '--count',
    String(opts.count),
  ];
  const proc = await startProcess({ cmd: process.execPath, args, ready: /^READY ([\d,]+)$/, timeoutMs: 20_000, graceMs: 1000 });
  const ports = proc.readyMatch![1]!.split(',').map(Number);
  return {
    ports,
    names: ports.map((_, i) => `${name}.${i}`),
    process: proc,
    async stop() {
      await proc.stop();
    },
  };
}
