/**
 * Child processes for tests: start one and wait until it is ready (a line on stdout/stderr or an
 * accepting TCP port), or run one to completion. Failures carry the last lines of output. Every
 * process started here is SIGKILLed at exit if a test forgot to stop it.
 * Set SCALES_TEST_VERBOSE=1 to mirror child output to stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

export type Ready = RegExp | { tcpPort: number; host?: string };

export interface StartOptions {
  cmd: string;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A line matching this (stdout or stderr), or a port that accepts connections. */
  ready: Ready;
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL in stop(). */
  graceMs?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ProcessHandle {
  readonly pid: number;
  readonly child: ChildProcess;
  /** The match of the ready RegExp (null for tcpPort readiness). */
  readonly readyMatch: RegExpMatchArray | null;
  /** Resolves once the process has exited. */
  readonly exited: Promise<Exit>;
  /** Collected stdout+stderr (bounded to the most recent bytes). */
  output(): string;
  /** The last n lines of output, for error messages. */
  tail(n?: number): string;
  /** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
  stop(): Promise<Exit>;
  kill(signal?: NodeJS.Signals): void;
}

const MAX_OUTPUT = 256 * 1024;
const live = new Set<ChildProcess>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

function describe(opts: { cmd: string; args?: readonly string[] }): string {
  return [opts.cmd, ...(opts.args ?? [])].join(' ');
}

/** Bounded output buffer that also yields complete lines as they arrive. */
class OutputLog {
  private text = '';
  private partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  constructor(private readonly onLine: (line: string) => void) {}

  push(stream: 'stdout' | 'stderr', chunk: string): void {
    this.text += chunk;
    if (this.text.length > MAX_OUTPUT) this.text = this.text.slice(-MAX_OUTPUT);
    const lines = (this.partial[stream] + chunk).split('\n');
    this.partial[stream] = lines.pop() ?? '';
    for (const line of lines) this.onLine(line);
  }

  all(): string {
    return this.text;
  }

  tail(n: number): string {
    return this.text.trimEnd().split('\n').slice(-n).join('\n');
  }
}

function probePort(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export function startProcess(opts: StartOptions): Promise<ProcessHandle> {
  hookExit();
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const graceMs = opts.graceMs ?? 2_000;
  const verbose = process.env.SCALES_TEST_VERBOSE === '1';
  const child = spawn(opts.cmd, opts.args ?? [], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });

  let readyMatch: RegExpMatchArray | null = null;
  let onReady: (() => void) | undefined;
  const regex = opts.ready instanceof RegExp ? opts.ready : undefined;
  const log = new OutputLog((line) => {
    if (regex && readyMatch === null) {
      const m = line.match(regex);
      if (m) {
        readyMatch = m;
        onReady?.();
      }
    }
  });
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    log.push('stdout', s);
    if (verbose) process.stderr.write(`[${opts.cmd}] ${s}`);
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    log.push('stderr', s);
    if (verbose) process.stderr.write(`[${opts.cmd}!] ${s}`);
  });

  const handle: ProcessHandle = {
    get pid() {
      return child.pid ?? -1;
    },
    child,
    get readyMatch() {
      return readyMatch;
    },
    exited,
    output: () => log.all(),
    tail: (n = 20) => log.tail(n),
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };

  return new Promise<ProcessHandle>((resolve, reject) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void handle.stop().then(() => reject(new Error(`${why}: ${describe(opts)}\n--- last output ---\n${log.tail(30)}`)));
    };
    const succeed = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(handle);
    };
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (err) => fail(`failed to spawn (${err.message})`));
    void exited.then(({ code, signal }) => fail(`exited before ready (code ${code}, signal ${signal})`));

    if (regex) {
      onReady = succeed;
      if (readyMatch !== null) succeed();
    } else {
      const { tcpPort, host = '127.0.0.1' } = opts.ready as { tcpPort: number; host?: string };
      const poll = async (): Promise<void> => {
        while (!settled) {
          if (await probePort(tcpPort, host)) return succeed();
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      void poll();
    }
  });
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  cmd: string;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs a process to completion (SIGKILL on timeout) and returns its full output. */
export function runProcess(opts: RunOptions): Promise<RunResult> {
  hookExit();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(opts.cmd, opts.args ?? [], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`failed to spawn ${describe(opts)}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}
