/**
 * ThriftMux echo vs plain Thrift (both Scales), client and server each in its own process, ONE
 * connection, `Bench.echo(Item)` at 100 and 1,000 calls in flight, in the same run:
 *   npx tsc -p tsconfig.build.json && npx tsx bench/thriftmux.ts
 *   BENCH_SECONDS=2 BENCH_ROUNDS=1 npx tsx bench/thriftmux.ts
 *   BENCH_TIMEOUT_MS=1000 ...          # a deadline on every call (Mux sends it as a context)
 *   BENCH_CPU_PROF=/tmp/prof ...       # a .cpuprofile per peer process
 * Scales runs from dist/ like the other RPC benchmarks (BENCH_FROM_SRC=1: from the sources).
 * The same file is the peer processes (`--serve <impl>`, `--client <impl> <port>`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { otherProcessCpuUs, ownCpuUs } from './peers/cpu.js';
import { ITEM_NAME, ITEM_VALUES, runLoad, sameValues, type LoadResult } from './peers/load.js';
import { loadScales, scalesModules } from './peers/runtime.js';
import { loadBenchService, type Item } from './peers/scales.js';

type Impl = 'thriftmux' | 'thrift';
type ThriftMuxIndex = typeof import('../src/protocols/thriftmux/index.js');

const self = fileURLToPath(import.meta.url);

async function serve(impl: Impl): Promise<void> {
  const m = await scalesModules();
  const Bench = await loadBenchService(m);
  const handler = { echo: (item: Item) => item };
  let port: number;
  if (impl === 'thriftmux') {
    const tm = await loadScales<ThriftMuxIndex>('protocols/thriftmux/index.js');
    port = (await tm.ThriftMux.serve(Bench, handler, { onError: false })).port;
  } else {
    port = (await m.thrift.Thrift.serve(Bench, handler, { onError: false, maxConcurrentPerConnection: 4096 })).port;
  }
  process.stdout.write(`${port}\n`);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

async function client(impl: Impl, port: number): Promise<void> {
  const m = await scalesModules();
  const Bench = await loadBenchService(m);
  const timeout = process.env['BENCH_TIMEOUT_MS'] === undefined ? undefined : Number(process.env['BENCH_TIMEOUT_MS']);
  const dest = `tcp://127.0.0.1:${port}`;
  const c =
    impl === 'thriftmux'
      ? (await loadScales<ThriftMuxIndex>('protocols/thriftmux/index.js')).ThriftMux.newClient(Bench, dest, { timeout })
      : m.thrift.Thrift.newClient(Bench, dest, { poolSize: 1, timeout });
  const values = ITEM_VALUES as number[];
  const serverPid = Number(process.env['BENCH_SERVER_PID']);
  const result = await runLoad<Item, Item>(
    {
      make: (n) => ({ id: BigInt(n), name: ITEM_NAME, values, flag: (n & 1) === 1 }),
      send: (item) => c.echo(item),
      check: (n, req, r) => r.id === req.id && r.name === ITEM_NAME && r.flag === ((n & 1) === 1) && sameValues(r.values),
    },
    {
      inFlight: Number(process.env['BENCH_IN_FLIGHT'] ?? 100),
      warmupMs: Number(process.env['BENCH_WARMUP_MS'] ?? 1000),
      measureMs: Number(process.env['BENCH_MEASURE_MS'] ?? 4000),
      cpu: serverPid > 0 ? () => ({ client: ownCpuUs(), server: otherProcessCpuUs(serverPid) }) : undefined,
    },
  );
  await c.$close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

function peer(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const dir = process.env['BENCH_CPU_PROF'];
  const prof = dir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
  return spawn(process.execPath, [...prof, '--import', 'tsx', self, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
}

async function firstLine(child: ChildProcess): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  lines.close();
  return line;
}

async function runPair(impl: Impl, inFlight: number, seconds: number): Promise<LoadResult> {
  const server = peer(['--serve', impl], {});
  try {
    const port = await firstLine(server);
    const c = peer(['--client', impl, port], {
      BENCH_IN_FLIGHT: String(inFlight),
      BENCH_MEASURE_MS: String(Math.round(seconds * 1000)),
      BENCH_SERVER_PID: String(server.pid),
    });
    c.stdin!.end();
    const line = await firstLine(c);
    await once(c, 'exit');
    return JSON.parse(line, (_k, v: unknown) => (v === null ? NaN : v)) as LoadResult;
  } finally {
    server.stdin!.end();
    if (server.exitCode === null) await once(server, 'exit');
  }
}

async function main(): Promise<void> {
  const seconds = Number(process.env['BENCH_SECONDS'] ?? 4);
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? 2);
  const rows: { impl: Impl; inFlight: number; best: LoadResult; all: number[] }[] = [];
  for (const inFlight of [100, 1000]) {
    for (const impl of ['thriftmux', 'thrift'] as const) rows.push({ impl, inFlight, best: undefined as unknown as LoadResult, all: [] });
  }
  for (let round = 0; round < rounds; round++) {
    for (const row of rows) {
      const r = await runPair(row.impl, row.inFlight, seconds);
      row.all.push(Math.round(r.callsPerSec));
      if (row.best === undefined || r.callsPerSec > row.best.callsPerSec) row.best = r;
      if (r.mismatches > 0 || r.errors > 0) process.exitCode = 1;
    }
  }
  const { from } = await scalesModules();
  console.log(`ThriftMux vs plain Thrift, Scales from ${from}, ${seconds} s × ${rounds} rounds, 1 connection each`);
  console.log('| pair | in flight | calls/s | p50 ms | p99 ms | client CPU µs/call | server CPU µs/call | errors | rounds calls/s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const { impl, inFlight, best: b, all } of rows) {
    const name = impl === 'thriftmux' ? 'ThriftMux → ThriftMux' : 'Thrift (pipelined) → Thrift';
    console.log(
      `| ${name} | ${inFlight} | ${Math.round(b.callsPerSec)} | ${b.p50Ms.toFixed(2)} | ${b.p99Ms.toFixed(2)} | ${b.clientCpuUs.toFixed(1)} | ${b.serverCpuUs.toFixed(1)} | ${b.errors + b.mismatches} | ${all.join(', ')} |`,
    );
  }
}

const [mode, impl, port] = process.argv.slice(2);
if (mode === '--serve') await serve(impl as Impl);
else if (mode === '--client') await client(impl as Impl, Number(port));
else await main();
