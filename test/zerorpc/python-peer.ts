// Drives test/peers/zerorpc_peer.py (python3-zmq + python3-msgpack, zerorpc-python's behaviour).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess, startProcess, type ProcessHandle, type RunResult } from '../harness/process.js';

export const PYTHON = '/usr/bin/python3';
export const PEER = join(dirname(fileURLToPath(import.meta.url)), '..', 'peers', 'zerorpc_peer.py');

/** Why the Python peer cannot run here, or undefined when it can. */
export async function pythonPeerMissing(): Promise<string | undefined> {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = await runProcess({ cmd: PYTHON, args: ['-c', 'import zmq, msgpack'], timeoutMs: 20_000 });
  return r.code === 0 ? undefined : `python3-zmq / python3-msgpack missing (scripts/setup.sh installs them): ${r.stderr.trim().split('\n').pop()}`;
}

export interface PyServer {
  readonly endpoint: string;
  readonly process: ProcessHandle;
  stop(): Promise<void>;
}

export async function startPyServer(args: readonly string[] = []): Promise<PyServer> {
  const p = await startProcess({ cmd: PYTHON, args: ['-u', PEER, 'server', ...args], ready: /^READY (\S+)/m, timeoutMs: 20_000 });
  return {
    endpoint: p.readyMatch![1]!,
    process: p,
    stop: async () => {
      p.kill('SIGCONT');
      await p.stop();
    },
  };
}

export function runPyClient(endpoint: string, args: readonly string[] = []): Promise<RunResult> {
  return runProcess({ cmd: PYTHON, args: ['-u', PEER, 'client', '--connect', endpoint, ...args], timeoutMs: 60_000 });
}
