/**
 * Load balancer pick cost: ns per call as the Balancer spends it (pick + load++ + started, and
 * later load-- + finished), for every picker at 10 / 1,000 / 10,000 nodes, all open, 32 calls in
 * flight (FIFO), the clock advancing 1 ms every 64 calls. Warm-up, then best of 3 rounds.
 * Each picker runs in a child process of its own, so call sites stay monomorphic as in a real
 * client (one picker kind per Balancer) and one picker's JIT feedback cannot slow the next.
 *   npx tsx bench/balancer.ts            # prints the markdown table
 */
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { makePicker } from '../src/balancer/pickers.js';
import type { BalancerNode, Picker } from '../src/balancer/types.js';
import type { Status } from '../src/core/service.js';

export type BenchedPicker = 'round-robin' | 'heap' | 'p2c' | 'p2c-ewma' | 'aperture';
export const BENCHED: readonly BenchedPicker[] = ['round-robin', 'heap', 'p2c', 'p2c-ewma', 'aperture'];
export const NODE_COUNTS: readonly number[] = [10, 1_000, 10_000];
/** The contract's budget (src/balancer/types.ts): ≤ 1 µs per pick at 10,000 nodes. */
export const TARGET_NS = 1_000;

export interface BalancerBenchResult {
  picker: BenchedPicker;
  nodes: number;
  /** Best round: ns per pick + started + finished. */
  nsPerPick: number;
  /** Calls per measured round. */
  iterations: number;
}

export interface BalancerBenchOptions {
  /** Target length of one measured round in ms (default 200). */
  roundMs?: number;
}

class BenchNode implements BalancerNode {
  load = 0;
  status: Status = 'open';
  constructor(readonly key: string) {}
}

const IN_FLIGHT = 32;

/** Runs `calls` calls through `picker`; returns the virtual clock so the next round goes on from it. */
function drive(picker: Picker<BenchNode>, calls: number, ring: (BenchNode | undefined)[], starts: Float64Array, t0: number): number {
  let now = t0;
  let head = 0;
  for (let i = 0; i < calls; i++) {
    if ((i & 63) === 0) now++;
    const old = ring[head];
    if (old !== undefined) {
      old.load--;
      picker.finished(old, now - starts[head]!, false, now);
    }
    const node = picker.pick(now);
    if (node === undefined) throw new Error(`${picker.name} picked nothing`);
    node.load++;
    picker.started(node, now);
    ring[head] = node;
    starts[head] = now;
    head = (head + 1) % IN_FLIGHT;
  }
  return now;
}

/** Measures one picker at one node count in this process. */
export function measure(kind: BenchedPicker, nodeCount: number, options: BalancerBenchOptions = {}): BalancerBenchResult {
  const roundMs = options.roundMs ?? 200;
  const nodes = Array.from({ length: nodeCount }, (_, i) => new BenchNode(`10.0.${i >> 8}.${i & 255}:9090`));
  const picker = makePicker<BenchNode>(kind, kind === 'heap' || kind === 'round-robin' ? {} : { seed: 1 });
  picker.setNodes(nodes);
  const ring: (BenchNode | undefined)[] = new Array<BenchNode | undefined>(IN_FLIGHT).fill(undefined);
  const starts = new Float64Array(IN_FLIGHT);
  let now = 1_000_000;
  // Warm-up and calibration: run until ~roundMs has passed.
  let calls = 0;
  const w0 = process.hrtime.bigint();
  let batch = 10_000;
  while (Number(process.hrtime.bigint() - w0) < roundMs * 1e6) {
    now = drive(picker, batch, ring, starts, now);
    calls += batch;
    batch *= 2;
  }
  const nsPerCall = Number(process.hrtime.bigint() - w0) / calls;
  const iterations = Math.max(10_000, Math.round((roundMs * 1e6) / nsPerCall));
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t = process.hrtime.bigint();
    now = drive(picker, iterations, ring, starts, now);
    best = Math.min(best, Number(process.hrtime.bigint() - t) / iterations);
  }
  return { picker: kind, nodes: nodeCount, nsPerPick: best, iterations };
}

const CHILD_ENV = 'SCALES_BALANCER_BENCH_CHILD';
const self = fileURLToPath(import.meta.url);

function runChild(kind: BenchedPicker, options: BalancerBenchOptions): Promise<BalancerBenchResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', self], {
      env: { ...process.env, [CHILD_ENV]: JSON.stringify({ kind, options }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`balancer bench child for ${kind} exited with ${code}`));
      else resolve(JSON.parse(out) as BalancerBenchResult[]);
    });
  });
}

/** Every picker × node count, each picker in its own process. */
export async function runBalancerBench(options: BalancerBenchOptions = {}): Promise<BalancerBenchResult[]> {
  const results: BalancerBenchResult[] = [];
  for (const kind of BENCHED) results.push(...(await runChild(kind, options)));
  return results;
}

export function balancerTable(results: readonly BalancerBenchResult[]): string {
  const rows = results.map((r) => {
    const verdict = r.nodes === 10_000 ? (r.nsPerPick <= TARGET_NS ? '✓' : '✗') : '';
    return `| ${r.picker} | ${r.nodes.toLocaleString('en-US')} | ${r.nsPerPick.toFixed(0)} | ${verdict} |`;
  });
  return ['| picker | nodes | ns/pick | target ≤ 1000 ns at 10,000 |', '| --- | ---: | ---: | :---: |', ...rows].join('\n');
}

const childConfig = process.env[CHILD_ENV];
if (childConfig !== undefined) {
  const { kind, options } = JSON.parse(childConfig) as { kind: BenchedPicker; options: BalancerBenchOptions };
  process.stdout.write(JSON.stringify(NODE_COUNTS.map((n) => measure(kind, n, options))));
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(balancerTable(await runBalancerBench()));
}
