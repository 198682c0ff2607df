/**
 * RPC benchmark: Bench.echo(Item) over framed Thrift, client and server each in its own process,
 * `inFlight` calls outstanding on ONE connection. Pairs Scales and the Apache `thrift` npm
 * package in every combination, so a ratio shows which side the difference comes from.
 *   npx tsx bench/thrift-rpc.ts            # all pairs
 *   BENCH_SECONDS=2 BENCH_ROUNDS=1 npx tsx bench/thrift-rpc.ts
 *   BENCH_CPU_PROF=/tmp/prof npx tsx bench/thrift-rpc.ts   # .cpuprofile per peer process
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generateApache } from './peers/apache.js';
import type { LoadResult, PhaseResult } from './peers/load.js';

/** `scales-bare` (client only): the codec and one ThriftSession with no stack, to measure the stack's overhead. */
export type Impl = 'scales' | 'scales-bare' | 'apache';
export type Protocol = 'binary' | 'compact';

export interface RpcPair {
  label: string;
  client: Impl;
  server: Impl;
  protocol: Protocol;
  /** Extra environment of the client process (bench/peers/client.ts reads BENCH_TIMEOUT_MS, BENCH_WITHOUT). */
  clientEnv?: Readonly<Record<string, string>>;
}

export interface RpcRow extends RpcPair, LoadResult {
  /** calls/s over the Apache client → Apache server pair of the same protocol (NaN if not run). */
  ratio: number;
  /** calls/s of every round; the row's other numbers come from the fastest one. */
  roundCallsPerSec: number[];
  /** Client CPU µs per call of every round. */
  roundClientCpuUs: number[];
}

export interface RpcBenchOptions {
  /** Measured seconds per pair (default env BENCH_SECONDS, else 4). */
  seconds?: number;
  warmupMs?: number;
  inFlight?: number;
  /**
   * Every pair runs this many times, interleaved with the others (default env BENCH_ROUNDS, else
   * 2); the fastest round is reported, so a burst of unrelated load on a shared machine hurts
   * neither side more than the other. Mismatches and errors are summed over all rounds.
   */
  rounds?: number;
  pairs?: readonly RpcPair[];
  /** Directory for `node --cpu-prof` output of every peer process (default env BENCH_CPU_PROF). */
  cpuProfDir?: string;
}

export const DEFAULT_PAIRS: readonly RpcPair[] = [
  { label: '(a) Scales → Scales', client: 'scales', server: 'scales', protocol: 'binary' },
  { label: '(b) Apache → Apache', client: 'apache', server: 'apache', protocol: 'binary' },
  { label: '(c) Scales → Apache', client: 'scales', server: 'apache', protocol: 'binary' },
  { label: '(d) Apache → Scales', client: 'apache', server: 'scales', protocol: 'binary' },
  { label: '(e) Scales → Scales', client: 'scales', server: 'scales', protocol: 'compact' },
  { label: '(f) Apache → Apache', client: 'apache', server: 'apache', protocol: 'compact' },
];

/** The stack-overhead clients (runPhasedOverhead): the bare session, the full default stack, and the full stack with a deadline on every call. */
export const OVERHEAD_PAIRS: readonly RpcPair[] = [
  { label: 'bare Scales session → Scales', client: 'scales-bare', server: 'scales', protocol: 'binary' },
  { label: 'full Scales client stack → Scales', client: 'scales', server: 'scales', protocol: 'binary' },
  { label: 'full stack, 1 s timeout on every call → Scales', client: 'scales', server: 'scales', protocol: 'binary', clientEnv: { BENCH_TIMEOUT_MS: '1000' } },
];

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

function peer(script: string, args: string[], env: NodeJS.ProcessEnv, cpuProfDir: string | undefined): ChildProcess {
  const prof = cpuProfDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [];
  return spawn(process.execPath, [...prof, '--import', 'tsx', join(here, 'peers', script), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

async function firstLine(child: ChildProcess, what: string): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  try {
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`${what} exited (code ${String(code)}) before printing`);
    });
    const [line] = (await Promise.race([once(lines, 'line'), exited])) as [string];
    return line;
  } finally {
    lines.close();
  }
}

/** Runs one pair: starts the server process, then the client process, and returns its result. */
type PairOptions = Required<Omit<RpcBenchOptions, 'pairs' | 'cpuProfDir' | 'rounds'>> & { cpuProfDir?: string };

export async function runPair(pair: RpcPair, o: PairOptions): Promise<LoadResult> {
  const server = peer('server.ts', [pair.server, pair.protocol], {}, o.cpuProfDir);
  try {
    const port = await firstLine(server, `${pair.server} server`);
    const client = peer(
      'client.ts',
      [pair.client, pair.protocol, port],
      {
        ...pair.clientEnv,
        BENCH_IN_FLIGHT: String(o.inFlight),
        BENCH_WARMUP_MS: String(o.warmupMs),
        BENCH_MEASURE_MS: String(Math.round(o.seconds * 1000)),
        BENCH_SERVER_PID: String(server.pid),
      },
      o.cpuProfDir,
    );
    client.stdin!.end();
    const line = await firstLine(client, `${pair.client} client`);
    await once(client, 'exit');
    // JSON turns NaN into null.
    return JSON.parse(line, (_k, v: unknown) => (v === null ? NaN : v)) as LoadResult;
  } finally {
    // Closing stdin lets the server exit by itself (and write its CPU profile, if asked).
    server.stdin!.end();
    if (server.exitCode === null) {
      const killer = setTimeout(() => server.kill(), 3000);
      await once(server, 'exit');
      clearTimeout(killer);
    }
  }
}

export async function runRpcBench(options: RpcBenchOptions = {}): Promise<RpcRow[]> {
  const o = {
    seconds: options.seconds ?? Number(process.env['BENCH_SECONDS'] ?? 4),
    warmupMs: options.warmupMs ?? 1000,
    inFlight: options.inFlight ?? 100,
    cpuProfDir: options.cpuProfDir ?? process.env['BENCH_CPU_PROF'],
  };
  const rounds = options.rounds ?? Number(process.env['BENCH_ROUNDS'] ?? 2);
  const pairs = options.pairs ?? DEFAULT_PAIRS;
  if (pairs.some((p) => p.client === 'apache' || p.server === 'apache')) generateApache();
  const runs: LoadResult[][] = pairs.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < pairs.length; i++) runs[i]!.push(await runPair(pairs[i]!, o));
  }
  const results = pairs.map((pair, i) => {
    const all = runs[i]!;
    const best = all.reduce((a, b) => (b.callsPerSec > a.callsPerSec ? b : a));
    return {
      ...pair,
      ...best,
      mismatches: all.reduce((n, r) => n + r.mismatches, 0),
      errors: all.reduce((n, r) => n + r.errors, 0),
      firstError: all.find((r) => r.firstError !== undefined)?.firstError,
      roundCallsPerSec: all.map((r) => r.callsPerSec),
      roundClientCpuUs: all.map((r) => r.clientCpuUs),
    };
  });
  return results.map((r) => {
    const base = results.find((b) => b.client === 'apache' && b.server === 'apache' && b.protocol === r.protocol);
    return { ...r, ratio: base !== undefined ? r.callsPerSec / base.callsPerSec : NaN };
  });
}

/** One client's bursts in a phased run, in cycle order. */
export interface PhasedRow {
  readonly label: string;
  readonly phases: readonly PhaseResult[];
}

export interface PhasedOptions {
  /** Measured cycles (default 16): in each, every client runs one burst, in turn. */
  cycles?: number;
  /** Length of one burst in ms (default 250). */
  phaseMs?: number;
  inFlight?: number;
  pairs?: readonly RpcPair[];
}

/** Lines of a child's stdout, one at a time. */
function lineReader(child: ChildProcess, what: string): () => Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  const queued: string[] = [];
  let waiting: ((line: string) => void) | undefined;
  lines.on('line', (line) => {
    if (waiting !== undefined) {
      const w = waiting;
      waiting = undefined;
      w(line);
    } else queued.push(line);
  });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${what} exited (code ${String(code)})`);
  });
  exited.catch(() => undefined);
  return () => (queued.length > 0 ? Promise.resolve(queued.shift()!) : Promise.race([new Promise<string>((r) => (waiting = r)), exited]));
}

/**
 * The stack-overhead measurement: every client of `pairs` (default OVERHEAD_PAIRS) runs in its own
 * process against ONE server, and they take turns in short bursts (A B C, then C B A, ...), so
 * that a burst of load from elsewhere on a shared machine falls on all of them alike; runs of a
 * few seconds one after the other differed by up to ±40 % here for that reason alone.
 */
export async function runPhasedOverhead(options: PhasedOptions = {}): Promise<PhasedRow[]> {
  const pairs = options.pairs ?? OVERHEAD_PAIRS;
  const cycles = options.cycles ?? 16;
  const phaseMs = options.phaseMs ?? 250;
  const server = peer('server.ts', ['scales', 'binary'], {}, undefined);
  const clients: { child: ChildProcess; next: () => Promise<string> }[] = [];
  try {
    const port = await firstLine(server, 'scales server');
    for (const pair of pairs) {
      const child = peer('client.ts', [pair.client, pair.protocol, port], { ...pair.clientEnv, BENCH_PHASES: '1', BENCH_IN_FLIGHT: String(options.inFlight ?? 100) }, undefined);
      const next = lineReader(child, `${pair.label} client`);
      if ((await next()) !== 'READY') throw new Error(`${pair.label} client did not start`);
      clients.push({ child, next });
    }
    const burst = async (i: number, ms: number): Promise<PhaseResult> => {
      clients[i]!.child.stdin!.write(`run ${ms}\n`);
      return JSON.parse(await clients[i]!.next()) as PhaseResult;
    };
    for (let i = 0; i < clients.length; i++) await burst(i, 1500); // warm-up: the JIT sees every path
    const phases: PhaseResult[][] = pairs.map(() => []);
    for (let c = 0; c < cycles; c++) {
      for (let k = 0; k < clients.length; k++) {
        const i = c % 2 === 0 ? k : clients.length - 1 - k;
        phases[i]!.push(await burst(i, phaseMs));
      }
    }
    return pairs.map((p, i) => ({ label: p.label, phases: phases[i]! }));
  } finally {
    for (const { child } of clients) {
      child.stdin!.end('exit\n');
      if (child.exitCode === null) await once(child, 'exit');
    }
    server.stdin!.end();
    if (server.exitCode === null) {
      const killer = setTimeout(() => server.kill(), 3000);
      await once(server, 'exit');
      clearTimeout(killer);
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { rpcTable } = await import('./report.js');
  console.log(rpcTable(await runRpcBench()));
}
