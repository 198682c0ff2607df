/**
 * Overload benchmark: goodput of the default Thrift client (watermark pool, 8 connections) when
 * offered more than the server can serve. The server (its own process, bench/peers/slow-server.ts)
 * answers each call after `workMs` of waiting, so the node's capacity is connections × 1000/workMs
 * calls/s; the client gives every call a 100 ms timeout and sends open-loop (arrivals do not wait
 * for replies), as traffic from many users does.
 *   npx tsx bench/overload.ts          # the scenarios of `npm run bench`
 * Goodput = successful calls / what could be served: the lesser of the offered calls and the
 * capacity over the run, where capacity = 8 connections / the time one call really takes (measured
 * first, one call at a time: the work plus the round trip and timer slack, ~1.5 ms over it here).
 * For the burst: 8 × the calls of that length that fit in the timeout. Each scenario's client makes
 * one call before it is measured (so it has a connection, as a client under load would). Reconnects = connections
 * the server accepted beyond the pool's 8.
 * Wasted = calls the server worked on whose caller had given up.
 *
 * `runOverloadBench(scenarios, 'thriftmux')` (BENCH_OVERLOAD_PROTOCOL=thriftmux): the default
 * ThriftMux client (one multiplexed connection, default retries) against a ThriftMux server with
 * `maxConcurrent` 8, so the capacity is the same 8 calls at once; past it the server NACKs and the
 * client's retry budget decides what is sent again. Reconnects = connections beyond the first.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadScales, scalesModules } from './peers/runtime.js';
import { loadBenchService, type Item } from './peers/scales.js';
import type { PoolConfig } from '../src/client/options.js';

export interface OverloadScenario {
  label: string;
  /** Calls per second, sent evenly for `seconds`; or `burst` calls at once. */
  rate?: number;
  burst?: number;
  seconds?: number;
  workMs: number;
}

export interface OverloadRow {
  label: string;
  /** One call's time alone (ms), the base of `possible`. */
  callMs: number;
  offered: number;
  /** Calls that could have succeeded: min(offered, capacity over the run). */
  possible: number;
  ok: number;
  goodput: number;
  failures: Record<string, number>;
  reconnects: number;
  wasted: number;
  p50: number;
  p99: number;
}

/** Calls served at once: the Thrift client's 8 connections, or the ThriftMux server's maxConcurrent. */
const POOL_CONNECTIONS = 8;
const TIMEOUT_MS = 100;

export const DEFAULT_SCENARIOS: readonly OverloadScenario[] = [
  { label: '1× capacity (400/s)', rate: 400, seconds: 4, workMs: 20 },
  { label: '1.5× capacity (600/s)', rate: 600, seconds: 4, workMs: 20 },
  { label: '5× capacity (2000/s)', rate: 2000, seconds: 4, workMs: 20 },
  { label: 'burst of 2000, 50 ms work', burst: 2000, workMs: 50 },
];

const here = dirname(fileURLToPath(import.meta.url));

/** BENCH_OVERLOAD_POOL='{"kind":"watermark","admission":{"lifoAfter":50}}' tries other pool settings. */
function clientOptions(): { pool?: PoolConfig } {
  const json = process.env['BENCH_OVERLOAD_POOL'];
  return json === undefined ? {} : { pool: JSON.parse(json, (_k, v: unknown) => (v === 'Infinity' ? Infinity : v)) as PoolConfig };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

export type OverloadProtocol = 'thrift' | 'thriftmux';

interface EchoClient {
  echo(item: Item): Promise<Item>;
  $close(): Promise<void>;
}

export async function runOverloadBench(scenarios: readonly OverloadScenario[] = DEFAULT_SCENARIOS, protocol: OverloadProtocol = 'thrift'): Promise<OverloadRow[]> {
  const m = await scalesModules();
  const Bench = await loadBenchService(m);
  const mux = protocol === 'thriftmux' ? (await loadScales<typeof import('../src/protocols/thriftmux/index.js')>('protocols/thriftmux/index.js')).ThriftMux : undefined;
  const newClient = (dest: string, options: { timeout: number }): EchoClient =>
    (mux !== undefined ? mux.newClient(Bench, dest, options) : m.thrift.Thrift.newClient(Bench, dest, { ...options, ...clientOptions() })) as EchoClient;
  const connections = protocol === 'thriftmux' ? 1 : POOL_CONNECTIONS;
  const serverArgs = protocol === 'thriftmux' ? ['thriftmux', String(POOL_CONNECTIONS)] : [];
  const server = spawn(process.execPath, ['--import', 'tsx', join(here, 'peers', 'slow-server.ts'), ...serverArgs], { cwd: join(here, '..'), stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: server.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done === true) throw new Error('overload server exited');
    return r.value as string;
  };
  const serverStats = async (): Promise<{ accepted: number; handled: number }> => {
    server.stdin!.write('stats\n');
    return JSON.parse(await next()) as { accepted: number; handled: number };
  };
  const rows: OverloadRow[] = [];
  try {
    const port = Number(await next());
    const callMs = new Map<number, number>();
    for (const workMs of new Set(scenarios.map((s) => s.workMs))) {
      const client = newClient(`tcp://127.0.0.1:${port}`, { timeout: 10 * workMs + 1000 });
      const item: Item = { id: BigInt(workMs), name: 'calibrate', values: [1, 2, 3], flag: true };
      const times: number[] = [];
      for (let i = 0; i < 40; i++) {
        const start = performance.now();
        await client.echo(item);
        if (i >= 10) times.push(performance.now() - start);
      }
      await client.$close();
      times.sort((a, b) => a - b);
      callMs.set(workMs, percentile(times, 50));
    }
    for (const s of scenarios) {
      const oneCall = callMs.get(s.workMs)!;
      const client = newClient(`tcp://127.0.0.1:${port}`, { timeout: TIMEOUT_MS });
      const item: Item = { id: BigInt(s.workMs), name: 'overload', values: [1, 2, 3], flag: true };
      // One call like the scenario's first: a burst on a client with no connection would measure
      // the connect, and a quicker call would teach the pool's admission a service time that is
      // not the scenario's (a 0 ms warm-up made it admit 2000 waiters that could not all fit).
      await client.echo(item);
      const before = await serverStats();
      const latencies: number[] = [];
      const failures: Record<string, number> = {};
      const settled: Promise<void>[] = [];
      const fire = (): void => {
        const start = performance.now();
        settled.push(
          client.echo(item).then(
            () => {
              latencies.push(performance.now() - start);
            },
            (err: unknown) => {
              const code = (err as { code?: string }).code ?? (err as Error).name ?? 'unknown';
              failures[code] = (failures[code] ?? 0) + 1;
            },
          ),
        );
      };
      let offered: number;
      let possible: number;
      if (s.burst !== undefined) {
        offered = s.burst;
        for (let i = 0; i < s.burst; i++) fire();
        possible = Math.min(offered, POOL_CONNECTIONS * Math.floor(TIMEOUT_MS / oneCall));
      } else {
        const rate = s.rate!;
        const seconds = s.seconds ?? 4;
        offered = Math.round(rate * seconds);
        const t0 = performance.now();
        let sent = 0;
        await new Promise<void>((done) => {
          const tick = (): void => {
            const due = Math.min(offered, Math.floor(((performance.now() - t0) * rate) / 1000));
            while (sent < due) {
              fire();
              sent++;
            }
            if (sent < offered) setTimeout(tick, 1);
            else done();
          };
          tick();
        });
        possible = Math.min(offered, Math.floor(POOL_CONNECTIONS * (1000 / oneCall) * seconds));
      }
      await Promise.all(settled);
      await client.$close();
      await new Promise((r) => setTimeout(r, s.workMs * 2 + 50));
      const after = await serverStats();
      latencies.sort((a, b) => a - b);
      rows.push({
        label: s.label,
        callMs: oneCall,
        offered,
        possible,
        ok: latencies.length,
        goodput: latencies.length / possible,
        failures,
        reconnects: Math.max(0, after.accepted - before.accepted - connections),
        wasted: after.handled - before.handled - latencies.length,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
      });
    }
  } finally {
    server.stdin!.end();
    if (server.exitCode === null) await once(server, 'exit');
  }
  return rows;
}

export function overloadTable(rows: readonly OverloadRow[]): string {
  const head = [
    '| load | one call alone | offered | could succeed | succeeded | goodput | p50 / p99 of successes | reconnects | wasted server work | failures |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ].join('\n');
  const body = rows.map((r) => {
    const failures = Object.entries(r.failures)
      .sort((a, b) => b[1] - a[1])
      .map(([code, n]) => `${code.replace(/^SCALES_ERR_/, '')} ${n}`)
      .join(', ');
    return `| ${r.label} | ${r.callMs.toFixed(1)} ms | ${r.offered} | ${r.possible} | ${r.ok} | ${(r.goodput * 100).toFixed(1)} % | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} ms | ${r.reconnects} | ${r.wasted} | ${failures || '—'} |`;
  });
  return [head, ...body].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(overloadTable(await runOverloadBench(DEFAULT_SCENARIOS, process.env['BENCH_OVERLOAD_PROTOCOL'] === 'thriftmux' ? 'thriftmux' : 'thrift')));
}
