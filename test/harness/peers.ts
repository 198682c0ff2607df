/**
 * The real Thrift peers for RichService (test/peers, semantics in test/peers/README.md), made easy
 * to drive from a test:
 *
 *   const srv = await startPyServer({ protocol: 'compact', transport: 'framed' });
 *   after(() => srv.stop());
 *   const run = await runPyClient({ port: srv.port, protocol: 'compact', transport: 'framed' });
 *   assert.equal(run.failed, 0, describeRun(run));
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { startProcess, runProcess, type ProcessHandle } from './process.js';
import { generateThrift } from './thrift-gen.js';

export type PeerProtocol = 'binary' | 'compact';
export type PeerTransport = 'framed' | 'buffered' | 'header';

/** PEM files for Apache's TSSLSocket/TSSLServerSocket (python peers only). */
export interface PeerTls {
  /** A server's: its certificate; a client's: its certificate for mTLS. */
  cert?: string;
  key?: string;
  /** A server's: require client certificates signed by it; a client's: trust it (turns TLS on). */
  ca?: string;
}

export interface PeerOptions {
  protocol?: PeerProtocol;
  transport?: PeerTransport;
  /** More flags for the peer script (Python: `--multiplexed NAME`, `--header k=v`...; see its usage). */
  extraArgs?: readonly string[];
  /** Python peers: speak TLS (Apache's TSSLSocket / TSSLServerSocket). */
  tls?: PeerTls;
}

export interface PeerServer {
  readonly port: number;
  readonly process: ProcessHandle;
  stop(): Promise<void>;
}

export interface ClientOptions extends PeerOptions {
  port: number;
  host?: string;
  /** Whole-run limit; the clients also time out each call after 10 s. */
  timeoutMs?: number;
}

export interface PyClientOptions extends ClientOptions {
  /** 'apache-node' skips/relaxes what the npm server cannot represent (README). Default 'full'. */
  profile?: 'full' | 'apache-node';
}

export interface CheckLine {
  check: string;
  ok: boolean;
  detail?: unknown;
  /** Present when the check was skipped, with the reason (never counted as passed). */
  skipped?: string;
}

export interface ClientRun {
  passed: number;
  failed: number;
  skipped: number;
  lines: CheckLine[];
  failures: CheckLine[];
  exitCode: number | null;
  stderr: string;
}

export const PYTHON = '/usr/bin/python3'; // Debian's: the pyenv python3 on PATH lacks python3-thrift
export const PEERS_DIR = join(import.meta.dirname, '../peers');
export const RICH_IDL = join(import.meta.dirname, '../fixtures/idl/rich.thrift');

/** Where `thrift` and `node-int64` live, for the generated CommonJS (which sits in the OS tmpdir). */
const NODE_MODULES = dirname(dirname(createRequire(import.meta.url).resolve('thrift/package.json')));

export const pyGenDir = (): Promise<string> => generateThrift('py', RICH_IDL);
export const jsGenDir = (): Promise<string> => generateThrift('js:node,ts,es6', RICH_IDL);

function peerArgs(opts: PeerOptions): string[] {
  const args = ['--protocol', opts.protocol ?? 'binary', '--transport', opts.transport ?? 'framed', ...(opts.extraArgs ?? [])];
  const t = opts.tls;
  if (t?.cert !== undefined) args.push('--tls-cert', t.cert);
  if (t?.key !== undefined) args.push('--tls-key', t.key);
  if (t?.ca !== undefined) args.push('--tls-ca', t.ca);
  return args;
}

function nodeEnv(): NodeJS.ProcessEnv {
  const extra = process.env.NODE_PATH ? [NODE_MODULES, process.env.NODE_PATH] : [NODE_MODULES];
  // The peers are plain JS: no loader hooks (tsx) or test-runner context from the parent.
  const { NODE_OPTIONS: _opts, NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
  return { ...env, NODE_PATH: extra.join(':') };
}

async function startServer(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<PeerServer> {
  const proc = await startProcess({ cmd, args, env, ready: /^READY (\d+)$/, timeoutMs: 15_000 });
  const port = Number(proc.readyMatch?.[1]);
  return {
    port,
    process: proc,
    stop: async () => {
      await proc.stop();
    },
  };
}

/** Apache Thrift Python TThreadedServer (py_rich_server.py) on a free port. */
export async function startPyServer(opts: PeerOptions = {}): Promise<PeerServer> {
  const gen = await pyGenDir();
  return startServer(PYTHON, ['-u', join(PEERS_DIR, 'py_rich_server.py'), '--gen-dir', gen, '--port', '0', ...peerArgs(opts)]);
}

/** Apache npm `thrift` server (apache_node_server.mjs) on a free port. */
export async function startApacheNodeServer(opts: PeerOptions = {}): Promise<PeerServer> {
  const gen = await jsGenDir();
  const script = join(PEERS_DIR, 'apache_node_server.mjs');
  return startServer(process.execPath, [script, '--gen-dir', gen, '--port', '0', ...peerArgs(opts)], nodeEnv());
}

function parseRun(what: string, r: { code: number | null; stdout: string; stderr: string; timedOut: boolean }): ClientRun {
  const lines: CheckLine[] = [];
  let summary: { passed: number; failed: number; skipped: number } | undefined;
  for (const text of r.stdout.split('\n')) {
    if (!text.trim()) continue;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error(`${what}: unexpected output line ${JSON.stringify(text)}\n${r.stderr.slice(-2000)}`);
    }
    if (parsed.done === true) summary = parsed as unknown as typeof summary;
    else lines.push(parsed as unknown as CheckLine);
  }
  if (!summary) {
    const why = r.timedOut ? 'timed out' : `exited with code ${r.code}`;
    const last = lines
      .slice(-5)
      .map((l) => JSON.stringify(l))
      .join('\n');
    throw new Error(`${what} ${why} before its summary\n--- last checks ---\n${last}\n--- stderr ---\n${r.stderr.slice(-3000)}`);
  }
  const failures = lines.filter((l) => !l.ok);
  if (failures.length !== summary.failed) throw new Error(`${what}: summary says ${summary.failed} failed, lines say ${failures.length}`);
  return { ...summary, lines, failures, exitCode: r.code, stderr: r.stderr };
}

/** Runs py_rich_client.py against host:port; resolves with every check (it does not throw on failed checks). */
export async function runPyClient(opts: PyClientOptions): Promise<ClientRun> {
  const gen = await pyGenDir();
  const args = [join(PEERS_DIR, 'py_rich_client.py'), '--gen-dir', gen, '--host', opts.host ?? '127.0.0.1', '--port', String(opts.port), '--profile', opts.profile ?? 'full', ...peerArgs(opts)];
  const r = await runProcess({ cmd: PYTHON, args, timeoutMs: opts.timeoutMs ?? 60_000 });
  return parseRun('py_rich_client', r);
}

/** Runs apache_node_client.mjs (npm `thrift`) against host:port. */
export async function runApacheNodeClient(opts: ClientOptions): Promise<ClientRun> {
  const gen = await jsGenDir();
  const args = [join(PEERS_DIR, 'apache_node_client.mjs'), '--gen-dir', gen, '--host', opts.host ?? '127.0.0.1', '--port', String(opts.port), ...peerArgs(opts)];
  const r = await runProcess({ cmd: process.execPath, args, env: nodeEnv(), timeoutMs: opts.timeoutMs ?? 60_000 });
  return parseRun('apache_node_client', r);
}

/** A readable summary of a run's failures, for assertion messages. */
export function describeRun(run: ClientRun): string {
  const fails = run.failures.map((f) => `  ✗ ${f.check}: ${typeof f.detail === 'string' ? f.detail : JSON.stringify(f.detail)}`);
  return [`passed ${run.passed}, failed ${run.failed}, skipped ${run.skipped}`, ...fails].join('\n');
}
