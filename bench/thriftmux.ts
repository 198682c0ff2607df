/**
 * ThriftMux echo vs plain Thrift (both Scales), @grpc/grpc-js unary echo and a raw length-prefixed
 * TCP echo with batched writes (the ceiling): client and server each in its own process, ONE
 * connection, `Bench.echo(Item)` at 100 and 1,000 calls in flight, in the same run, then each at
 * half its peak rate (open loop) for the latency at a sane load:
 *   npx tsc -p tsconfig.build.json && npx tsx bench/thriftmux.ts
 *   BENCH_SECONDS=2 BENCH_ROUNDS=1 npx tsx bench/thriftmux.ts
 *   BENCH_TIMEOUT_MS=1000 ...          # a deadline on every call (Mux sends it as a context)
 *   BENCH_CPU_PROF=/tmp/prof ...       # a .cpuprofile per peer process
 *   BENCH_NODE_FLAGS='--heap-prof --heap-prof-dir=/tmp/heap' ...   # any node flags for both peers
 *   BENCH_IMPLS=thriftmux,raw ...      # only those
 *   BENCH_LOADS=100 BENCH_PACED=0 ...  # only 100 in flight, no half-peak runs
 *   BENCH_PACED_RATE=150000 ...        # the paced runs at that rate, not half the slowest round
 *   BENCH_PACED_WARMUP_MS=3000 ...     # the paced runs' warm-up at the rate (default 3 s)
 *   BENCH_GC=1 ...                     # GC counts per peer (stderr): client in the window, server over its life
 *   BENCH_WITHOUT=stats,retries ...    # the ThriftMux client without those roles (what they cost end to end)
 *   BENCH_MODE=large ...               # small calls' latency beside 10 MiB echoes (64 KiB framer)
 *   BENCH_MODE=balancers ...           # aperture vs p2c over 3 and 10 servers
 *   BENCH_MODE=ab BENCH_AB=../../tmp/base/dist,dist ...   # A/B of two builds in alternating bursts (see mainAb)
 * Scales runs from dist/ like the other RPC benchmarks (BENCH_FROM_SRC=1: from the sources).
 * The same file is the peer processes (`--serve <impl>`, `--client <impl> <port>`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { constants, performance, PerformanceObserver } from 'node:perf_hooks';
import { otherProcessCpuUs, ownCpuUs } from './peers/cpu.js';
import { type CallShape, ITEM_NAME, ITEM_VALUES, runLoad, runPhase, sameValues, type LoadResult } from './peers/load.js';
import { loadScales, scalesModules } from './peers/runtime.js';
import { loadBenchService, type Item } from './peers/scales.js';
import { connectGrpcEcho, serveGrpcEcho } from './peers/grpc-echo.js';
import { runPaced, type PacedResult } from './peers/paced.js';
import { pinnedCommand } from './peers/pin.js';
import { connectRawEcho, serveRawEcho } from './peers/raw-echo.js';

type Impl = 'thriftmux' | 'thrift' | 'grpc' | 'raw';
const IMPLS: readonly Impl[] = ['thriftmux', 'thrift', 'grpc', 'raw'];
const NAMES: Record<Impl, string> = {
  thriftmux: 'ThriftMux → ThriftMux',
  thrift: 'Thrift (pipelined) → Thrift',
  grpc: 'grpc-js unary echo',
  raw: 'raw TCP echo, batched (ceiling)',
};
type ThriftMuxIndex = typeof import('../src/protocols/thriftmux/index.js');

const self = fileURLToPath(import.meta.url);
/** BENCH_FRAMER: both ThriftMux peers send it as their `mux-framer` (large messages go in fragments). */
const framer = (): number | undefined => (process.env['BENCH_FRAMER'] ? Number(process.env['BENCH_FRAMER']) : undefined);
/** BENCH_LARGE_CALLERS: that many callers echo 10 MiB Items beside the measured small calls. */
const LARGE_BYTES = 10 * 1024 * 1024;

/**
 * BENCH_GC=1: counts this process's GCs (PerformanceObserver 'gc': the same events as
 * --trace-gc, without writing to stdout, which carries the peers' answers).
 */
function gcCounter(): (() => string) | undefined {
  if (process.env['BENCH_GC'] !== '1') return undefined;
  const n = { minor: 0, major: 0, other: 0, minorMs: 0, majorMs: 0 };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        n.minor++;
        n.minorMs += e.duration;
      } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        n.major++;
        n.majorMs += e.duration;
      } else n.other++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const snap = (): typeof n => ({ ...n });
  const start = snap();
  return () => {
    const s = snap();
    return `scavenges ${s.minor - start.minor} (${(s.minorMs - start.minorMs).toFixed(0)} ms), mark-sweeps ${s.major - start.major} (${(s.majorMs - start.majorMs).toFixed(0)} ms), other ${s.other - start.other}`;
  };
}

/** Read and write syscalls so far of a process (`self` or a pid), from /proc/<pid>/io. */
function syscalls(pid: string): { r: number; w: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    return { r: Number(/syscr: (\d+)/.exec(io)?.[1]), w: Number(/syscw: (\d+)/.exec(io)?.[1]) };
  } catch {
    return { r: NaN, w: NaN };
  }
}

/**
 * BENCH_ALLOC_PROF=dir: samples every allocation from now on, collected objects included (what
 * --heap-prof leaves out), and writes `<role>.<pid>.heapprofile` there when `stop()` is called.
 */
async function allocationProfile(role: string): Promise<(() => Promise<void>) | undefined> {
  const dir = process.env['BENCH_ALLOC_PROF'];
  if (dir === undefined) return undefined;
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object): Promise<unknown> => new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return async () => {
    const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: unknown };
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${dir}/${role}.${process.pid}.heapprofile`, JSON.stringify(profile));
  };
}

/** BENCH_FLUSH=nextTick|microtask|immediate|splitN: the Scales peers' flush scheduling, or the read split after every N messages (src/transport/flush-scheduling.ts). */
async function flushScheduling(): Promise<void> {
  const kind = process.env['BENCH_FLUSH'];
  if (kind === undefined || kind === '') return;
  const f = await loadScales<typeof import('../src/transport/flush-scheduling.js')>('transport/flush-scheduling.js');
  // `splitN`: the read-split experiment (a flush after every N messages of a read, setReadSplit).
  if (kind.startsWith('split')) f.setReadSplit(Number(kind.slice(5)));
  else f.setFlushScheduling(kind as 'nextTick' | 'microtask' | 'immediate');
}

async function serve(impl: Impl): Promise<void> {
  const stopAlloc = await allocationProfile(`${impl}-server`);
  const exitOnEnd = (): void => void process.stdin.on('end', () => (stopAlloc === undefined ? process.exit(0) : void stopAlloc().then(() => process.exit(0))));
  const gc = gcCounter();
  const t0 = performance.now();
  if (gc !== undefined) process.stdin.on('end', () => process.stderr.write(`[gc] ${impl} server, ${((performance.now() - t0) / 1000).toFixed(1)} s: ${gc()}\n`));
  if (impl === 'grpc' || impl === 'raw') {
    process.stdout.write(`${impl === 'grpc' ? await serveGrpcEcho() : await serveRawEcho()}\n`);
    exitOnEnd();
    process.stdin.resume();
    return;
  }
  const m = await scalesModules();
  await flushScheduling();
  const Bench = await loadBenchService(m);
  const handler = { echo: (item: Item) => item };
  let port: number;
  if (impl === 'thriftmux') {
    const tm = await loadScales<ThriftMuxIndex>('protocols/thriftmux/index.js');
    port = (await tm.ThriftMux.serve(Bench, handler, { onError: false, framerSize: framer() })).port;
  } else {
    port = (await m.thrift.Thrift.serve(Bench, handler, { onError: false, maxConcurrentPerConnection: 4096 })).port;
  }
  process.stdout.write(`${port}\n`);
  exitOnEnd();
  process.stdin.resume();
}

/** One call of each implementation, with the same Item (the raw echo sends its ~100 B encoding). */
async function callShape(impl: Impl, port: number): Promise<{ shape: CallShape<Item, unknown>; close(): Promise<void> | void }> {
  const values = ITEM_VALUES as number[];
  const make = (n: number): Item => ({ id: BigInt(n), name: ITEM_NAME, values, flag: (n & 1) === 1 });
  const check = (n: number, req: Item, r: Item): boolean => r.id === req.id && r.name === ITEM_NAME && r.flag === ((n & 1) === 1) && sameValues(r.values);
  if (impl === 'raw') {
    const c = await connectRawEcho(port);
    const payload = Buffer.alloc(100, 7);
    return {
      shape: { make, send: () => c.call(payload), check: (_n, _req, r) => (r as Buffer).length === 100 && (r as Buffer)[99] === 7 },
      close: () => c.close(),
    };
  }
  if (impl === 'grpc') {
    const c = connectGrpcEcho(port);
    return { shape: { make, send: (item) => c.echo(item), check: (n, req, r) => check(n, req, r as Item) }, close: () => c.close() };
  }
  const m = await scalesModules();
  await flushScheduling();
  const Bench = await loadBenchService(m);
  const timeout = process.env['BENCH_TIMEOUT_MS'] === undefined ? undefined : Number(process.env['BENCH_TIMEOUT_MS']);
  const dest = `tcp://127.0.0.1:${port}`;
  const c =
    impl === 'thriftmux'
      ? (await loadScales<ThriftMuxIndex>('protocols/thriftmux/index.js')).ThriftMux.newBuilder(Bench, {
          timeout,
          framerSize: framer(),
          ...(process.env['BENCH_LB'] ? { loadBalancer: process.env['BENCH_LB'] as 'p2c' | 'aperture' } : {}),
        })
          .withStack((s) =>
            (process.env['BENCH_WITHOUT'] ?? '')
              .split(',')
              .filter(Boolean)
              .reduce((stack, role) => stack.remove(role), s),
          )
          .build(process.env['BENCH_DEST'] ?? dest)
      : m.thrift.Thrift.newClient(Bench, dest, { poolSize: 1, timeout });
  const largeCallers = Number(process.env['BENCH_LARGE_CALLERS'] ?? 0);
  let going = true;
  const large: Promise<void>[] = [];
  if (largeCallers > 0) {
    const name = 'L'.repeat(LARGE_BYTES);
    for (let k = 0; k < largeCallers; k++) {
      large.push(
        (async () => {
          while (going) {
            const r = await c.echo({ id: BigInt(-1 - k), name, values, flag: false });
            if (r.name.length !== LARGE_BYTES) throw new Error('large echo came back wrong');
          }
        })(),
      );
    }
  }
  const close = async (): Promise<void> => {
    going = false;
    await Promise.all(large);
    await c.$close();
  };
  return { shape: { make, send: (item) => c.echo(item), check: (n, req, r) => check(n, req, r as Item) }, close };
}

/** N ThriftMux servers in this one process; on stdin's end prints each one's peak open connections. */
async function serveMany(n: number): Promise<void> {
  const m = await scalesModules();
  const Bench = await loadBenchService(m);
  const tm = await loadScales<ThriftMuxIndex>('protocols/thriftmux/index.js');
  const servers = await Promise.all(Array.from({ length: n }, () => tm.ThriftMux.serve(Bench, { echo: (item: Item) => item }, { onError: false })));
  process.stdout.write(`${servers.map((s) => s.port).join(',')}\n`);
  // Peak open connections per server, sampled (the client closes its own before this process hears of the end).
  const peak = servers.map(() => 0);
  setInterval(() => {
    for (const [i, s] of servers.entries()) peak[i] = Math.max(peak[i]!, s.connections);
  }, 20).unref();
  process.stdin.on('end', () => {
    const opened = peak;
    process.stdout.write(`${JSON.stringify(opened)}\n`);
    process.exit(0);
  });
  process.stdin.resume();
}

async function client(impl: Impl, port: number): Promise<void> {
  const { shape, close } = await callShape(impl, port);
  const serverPid = Number(process.env['BENCH_SERVER_PID']);
  const inFlight = Number(process.env['BENCH_IN_FLIGHT'] ?? 100);
  const measureMs = Number(process.env['BENCH_MEASURE_MS'] ?? 4000);
  const warmupMs = Number(process.env['BENCH_WARMUP_MS'] ?? 1000);
  const rate = Number(process.env['BENCH_RATE'] ?? 0);
  const stopAlloc = await allocationProfile(`${impl}-client`);
  let result: LoadResult | PacedResult;
  let gc: (() => string) | undefined;
  let gcWindow = '';
  let io0: { r: number; w: number }[] | undefined;
  let io1: { r: number; w: number }[] | undefined;
  if (rate > 0) {
    // The warm-up at the same rate (a balancer's window sizes itself to it), in the same run, and
    // longer: a fresh process starts the paced load far behind (its first ~0.5 s at a fraction of
    // the rate), and the JIT was still settling 1 s in, when the measured window used to start.
    const pacedWarmupMs = Number(process.env['BENCH_PACED_WARMUP_MS'] ?? 3000);
    result = await runPaced(shape, rate, pacedWarmupMs, measureMs, inFlight);
  } else {
    result = await runLoad(shape, {
      inFlight,
      warmupMs,
      measureMs,
      cpu:
        serverPid > 0
          ? () => {
              // Called at both ends of the measured window: the GC and syscall counts cover it.
              if (process.env['BENCH_GC'] === '1') {
                if (gc === undefined) {
                  gc = gcCounter();
                  io0 = [syscalls('self'), syscalls(String(serverPid))];
                } else {
                  gcWindow = gc();
                  io1 = [syscalls('self'), syscalls(String(serverPid))];
                }
              }
              return { client: ownCpuUs(), server: otherProcessCpuUs(serverPid) };
            }
          : undefined,
    });
    if (gcWindow !== '') {
      const per = (a: number, b: number): string => ((100 * (b - a)) / (result as LoadResult).calls).toFixed(1);
      const [c0, s0] = io0!;
      const [c1, s1] = io1!;
      process.stderr.write(
        `[gc] ${impl} client, ${inFlight} in flight, ${result.calls} calls in the window: ${gcWindow}; per 100 calls: client reads ${per(c0.r, c1.r)} writes ${per(c0.w, c1.w)}, server reads ${per(s0.r, s1.r)} writes ${per(s0.w, s1.w)}\n`,
      );
    }
  }
  await stopAlloc?.();
  await close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

/** BENCH_MODE=ab's client: `run <ms>` runs one burst and prints calls, seconds and both peers' CPU µs as a JSON line. */
async function phasedClient(impl: Impl, port: number): Promise<void> {
  const { shape, close } = await callShape(impl, port);
  const serverPid = Number(process.env['BENCH_SERVER_PID']);
  const inFlight = Number(process.env['BENCH_IN_FLIGHT'] ?? 100);
  const lines = createInterface({ input: process.stdin });
  let first = 0;
  process.stdout.write('READY\n');
  for await (const line of lines) {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd !== 'run') break;
    const s0 = otherProcessCpuUs(serverPid);
    const r = await runPhase(shape, inFlight, Number(arg), ownCpuUs, first);
    const serverCpuUs = otherProcessCpuUs(serverPid) - s0;
    first += r.calls + r.errors + inFlight;
    process.stdout.write(`${JSON.stringify({ ...r, serverCpuUs })}\n`);
  }
  lines.close();
  await close();
  process.exit(0);
}

interface AbTotals {
  calls: number;
  seconds: number;
  clientUs: number;
  serverUs: number;
  errors: number;
}

/**
 * BENCH_MODE=ab: two builds (BENCH_AB=dirA,dirB, as BENCH_DIST takes them; `dir@microtask` also
 * sets that BENCH_FLUSH for one of them), each with its own
 * client and server processes, take turns in short bursts (A B, then B A; BENCH_AB_PHASE_MS,
 * default 250) after a warm-up, so that load from elsewhere falls on both alike; BENCH_AB_SETS
 * (default 3) fresh sets of processes (each JIT makes its own choices), BENCH_AB_CYCLES (default
 * 12) cycles each. Reports calls/s and CPU µs per call of both peers, per set and pooled.
 */
async function mainAb(): Promise<void> {
  const builds = (process.env['BENCH_AB'] ?? '').split(',').filter((b) => b !== '');
  if (builds.length !== 2) throw new Error('BENCH_AB=dirA,dirB (two builds)');
  const impl = (process.env['BENCH_IMPLS'] ?? 'thriftmux') as Impl;
  const inFlight = Number(process.env['BENCH_LOADS'] ?? 100);
  const sets = Number(process.env['BENCH_AB_SETS'] ?? 3);
  const cycles = Number(process.env['BENCH_AB_CYCLES'] ?? 12);
  const phaseMs = Number(process.env['BENCH_AB_PHASE_MS'] ?? 250);
  const pooled: AbTotals[] = builds.map(() => ({ calls: 0, seconds: 0, clientUs: 0, serverUs: 0, errors: 0 }));
  const row = (label: string, t: AbTotals): string => `| ${label} | ${Math.round(t.calls / t.seconds)} | ${(t.clientUs / t.calls).toFixed(2)} | ${(t.serverUs / t.calls).toFixed(2)} | ${t.errors} |`;
  console.log(`A/B ${impl}, ${inFlight} in flight, ${sets} sets × ${cycles} cycles of ${phaseMs} ms bursts; load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)} at the start`);
  console.log('| set: build | calls/s | client CPU µs/call | server CPU µs/call | errors |');
  console.log('|---|---:|---:|---:|---:|');
  for (let set = 0; set < sets; set++) {
    const servers: ChildProcess[] = [];
    const clients: { child: ChildProcess; next: () => Promise<string> }[] = [];
    try {
      for (const build of builds) {
        // `dir@kind`: that build with BENCH_FLUSH=kind.
        const [dist, flush = process.env['BENCH_FLUSH'] ?? ''] = build.split('@') as [string, string?];
        const env = { BENCH_DIST: dist, BENCH_FLUSH: flush };
        const server = peer(['--serve', impl], env);
        servers.push(server);
        const port = await firstLine(server);
        const child = peer(['--client-phased', impl, port], { ...env, BENCH_SERVER_PID: String(server.pid), BENCH_IN_FLIGHT: String(inFlight) });
        const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
        const next = async (): Promise<string> => {
          const r = await lines.next();
          if (r.done === true) throw new Error(`${build} client exited`);
          return r.value as string;
        };
        if ((await next()) !== 'READY') throw new Error(`${build} client did not start`);
        clients.push({ child, next });
      }
      const burst = async (i: number, ms: number): Promise<AbTotals> => {
        clients[i]!.child.stdin!.write(`run ${ms}\n`);
        const r = JSON.parse(await clients[i]!.next()) as { calls: number; seconds: number; cpuUs: number; serverCpuUs: number; errors: number; mismatches: number };
        return { calls: r.calls, seconds: r.seconds, clientUs: r.cpuUs, serverUs: r.serverCpuUs, errors: r.errors + r.mismatches };
      };
      for (let i = 0; i < builds.length; i++) await burst(i, 1500); // warm-up: the JIT sees every path
      const totals: AbTotals[] = builds.map(() => ({ calls: 0, seconds: 0, clientUs: 0, serverUs: 0, errors: 0 }));
      for (let c = 0; c < cycles; c++) {
        for (let k = 0; k < builds.length; k++) {
          const i = c % 2 === 0 ? k : builds.length - 1 - k;
          const r = await burst(i, phaseMs);
          for (const t of [totals[i]!, pooled[i]!]) {
            t.calls += r.calls;
            t.seconds += r.seconds;
            t.clientUs += r.clientUs;
            t.serverUs += r.serverUs;
            t.errors += r.errors;
          }
        }
      }
      for (let i = 0; i < builds.length; i++) console.log(row(`${set + 1}: ${builds[i]}`, totals[i]!));
    } finally {
      for (const { child } of clients) {
        child.stdin!.end('exit\n');
        if (child.exitCode === null) await once(child, 'exit');
      }
      for (const server of servers) {
        server.stdin!.end();
        if (server.exitCode === null) await once(server, 'exit');
      }
    }
  }
  for (let i = 0; i < builds.length; i++) console.log(row(`all: ${builds[i]}`, pooled[i]!));
  const [a, b] = pooled as [AbTotals, AbTotals];
  console.log(
    `B/A: calls/s ${((b.calls / b.seconds / (a.calls / a.seconds)) * 100 - 100).toFixed(1)} %, client CPU/call ${((b.clientUs / b.calls / (a.clientUs / a.calls)) * 100 - 100).toFixed(1)} %, server CPU/call ${((b.serverUs / b.calls / (a.serverUs / a.calls)) * 100 - 100).toFixed(1)} %`,
  );
}

function peer(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const dir = process.env['BENCH_CPU_PROF'];
  const prof = dir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
  // BENCH_NODE_FLAGS: more node flags for both peers (`--heap-prof --heap-prof-dir=/tmp/heap`).
  const flags = process.env['BENCH_NODE_FLAGS']?.split(' ').filter((f) => f !== '') ?? [];
  const role = args[0]?.startsWith('--serve') ? 'server' : 'client';
  const [cmd, argv] = pinnedCommand(role, process.execPath, [...prof, ...flags, '--import', 'tsx', self, ...args]);
  return spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
}

/** The child's first line; rejects if it exits first (a peer that crashed must not hang the run). */
async function firstLine(child: ChildProcess): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`peer ${child.spawnargs.slice(-3).join(' ')} exited (code ${String(code)}) before its first line`);
  });
  try {
    const [line] = (await Promise.race([once(lines, 'line'), exited])) as [string];
    return line;
  } finally {
    exited.catch(() => undefined);
    lines.close();
  }
}

async function runPair<R = LoadResult>(impl: Impl, inFlight: number, seconds: number, rate = 0): Promise<R> {
  const server = peer(['--serve', impl], {});
  try {
    const port = await firstLine(server);
    const c = peer(['--client', impl, port], {
      BENCH_IN_FLIGHT: String(inFlight),
      BENCH_MEASURE_MS: String(Math.round(seconds * 1000)),
      BENCH_SERVER_PID: String(server.pid),
      BENCH_RATE: String(rate),
    });
    c.stdin!.end();
    const line = await firstLine(c);
    await once(c, 'exit');
    return JSON.parse(line, (_k, v: unknown) => (v === null ? NaN : v)) as R;
  } finally {
    server.stdin!.end();
    if (server.exitCode === null) await once(server, 'exit');
  }
}

/** BENCH_MODE=large: small calls' latency with and without 10 MiB echoes beside them, 64 KiB framer. */
async function mainLarge(seconds: number, rounds: number): Promise<void> {
  console.log(`ThriftMux small calls beside 10 MiB echoes, 64 KiB mux-framer both ways, ${seconds} s × ${rounds} rounds (open loop, 2,000 small calls/s)`);
  console.log('| large callers | small calls/s | p50 ms | p99 ms | p99.9 ms | late | errors |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (let round = 0; round < rounds; round++) {
    for (const largeCallers of [0, 1, 2]) {
      process.env['BENCH_FRAMER'] = String(64 * 1024);
      process.env['BENCH_LARGE_CALLERS'] = String(largeCallers);
      const p = await runPair<PacedResult>('thriftmux', 1000, seconds, 2000);
      if (p.mismatches > 0 || p.errors > 0) process.exitCode = 1;
      console.log(`| ${largeCallers} | ${Math.round(p.callsPerSec)} | ${p.p50Ms.toFixed(2)} | ${p.p99Ms.toFixed(2)} | ${p.p999Ms.toFixed(2)} | ${p.late} | ${p.errors + p.mismatches} |`);
    }
  }
}

/** BENCH_MODE=balancers: aperture vs p2c over 3 and 10 ThriftMux servers (one process), singleton pool. */
async function mainBalancers(seconds: number, rounds: number): Promise<void> {
  console.log(`ThriftMux aperture vs p2c, singleton pool, servers in one process, ${seconds} s × ${rounds} rounds`);
  console.log('| servers | balancer | load | calls/s | p50 ms | p99 ms | connections (peak per server) |');
  console.log('|---:|---|---|---:|---:|---:|---|');
  for (let round = 0; round < rounds; round++) {
    for (const n of [3, 10]) {
      for (const load of ['100 in flight', '2,000 calls/s'] as const) {
        for (const lb of ['aperture', 'p2c'] as const) {
          const server = spawn(process.execPath, ['--import', 'tsx', self, '--serve-many', String(n)], { env: process.env, stdio: ['pipe', 'pipe', 'inherit'] });
          const lines = createInterface({ input: server.stdout! });
          const it = lines[Symbol.asyncIterator]();
          const ports = ((await it.next()).value as string).split(',');
          const rate = load === '100 in flight' ? 0 : 2000;
          const c = peer(['--client', 'thriftmux', ports[0]!], {
            BENCH_IN_FLIGHT: String(rate === 0 ? 100 : 1000),
            BENCH_MEASURE_MS: String(Math.round(seconds * 1000)),
            BENCH_RATE: String(rate),
            BENCH_LB: lb,
            BENCH_DEST: `tcp://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
          });
          c.stdin!.end();
          const r = JSON.parse(await firstLine(c), (_k, v: unknown) => (v === null ? NaN : v)) as LoadResult & PacedResult;
          await once(c, 'exit');
          server.stdin!.end();
          const opened = JSON.parse((await it.next()).value as string) as number[];
          lines.close();
          if (server.exitCode === null) await once(server, 'exit');
          if (r.mismatches > 0 || r.errors > 0) process.exitCode = 1;
          const total = opened.reduce((a, b) => a + b, 0);
          console.log(`| ${n} | ${lb} | ${load} | ${Math.round(r.callsPerSec)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${total} (${opened.join(' ')}) |`);
        }
      }
    }
  }
}

async function main(): Promise<void> {
  if (process.env['BENCH_MODE'] === 'ab') return mainAb();
  if (process.env['BENCH_MODE'] === 'balancers') return mainBalancers(Number(process.env['BENCH_SECONDS'] ?? 4), Number(process.env['BENCH_ROUNDS'] ?? 2));
  if (process.env['BENCH_MODE'] === 'large') return mainLarge(Number(process.env['BENCH_SECONDS'] ?? 4), Number(process.env['BENCH_ROUNDS'] ?? 2));
  const seconds = Number(process.env['BENCH_SECONDS'] ?? 4);
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? 2);
  const only = process.env['BENCH_IMPLS']?.split(',') as Impl[] | undefined;
  const impls = IMPLS.filter((i) => only === undefined || only.includes(i));
  const rows: { impl: Impl; inFlight: number; best: LoadResult; all: number[] }[] = [];
  const loads = (process.env['BENCH_LOADS'] ?? '100,1000').split(',').map(Number);
  for (const inFlight of loads) {
    for (const impl of impls) rows.push({ impl, inFlight, best: undefined as unknown as LoadResult, all: [] });
  }
  // Rounds interleave the implementations, so that load from elsewhere falls on all alike.
  for (let round = 0; round < rounds; round++) {
    for (const row of rows) {
      const r = await runPair(row.impl, row.inFlight, seconds);
      row.all.push(Math.round(r.callsPerSec));
      if (row.best === undefined || r.callsPerSec > row.best.callsPerSec) row.best = r;
      if (r.mismatches > 0 || r.errors > 0) process.exitCode = 1;
    }
  }
  const { from } = await scalesModules();
  const ceiling = (inFlight: number): number => rows.find((r) => r.impl === 'raw' && r.inFlight === inFlight)?.best.callsPerSec ?? NaN;
  console.log(`ThriftMux vs plain Thrift vs grpc-js vs raw TCP, Scales from ${from}, ${seconds} s × ${rounds} rounds, 1 connection each`);
  console.log('| pair | in flight | calls/s | of raw TCP | p50 ms | p99 ms | client CPU µs/call | server CPU µs/call | errors | rounds calls/s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const { impl, inFlight, best: b, all } of rows) {
    const ratio = `${((100 * b.callsPerSec) / ceiling(inFlight)).toFixed(0)} %`;
    console.log(
      `| ${NAMES[impl]} | ${inFlight} | ${Math.round(b.callsPerSec)} | ${ratio} | ${b.p50Ms.toFixed(2)} | ${b.p99Ms.toFixed(2)} | ${b.clientCpuUs.toFixed(1)} | ${b.serverCpuUs.toFixed(1)} | ${b.errors + b.mismatches} | ${all.join(', ')} |`,
    );
  }
  // Latency at half the peak: an open-loop run at half the rate every closed-loop round at 100 in
  // flight sustained (its slowest round: half the best round was more than a slow round could
  // carry, and the sender fell behind); BENCH_PACED_RATE=n sets it.
  if (process.env['BENCH_PACED'] === '0') return;
  console.log('');
  console.log('| pair | rate (½ sustained peak) | achieved calls/s | p50 ms | p99 ms | p99.9 ms | late | client stalls > 2 ms (longest) | errors |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const pacedRate = Number(process.env['BENCH_PACED_RATE'] ?? 0);
  for (const row of rows.filter((r) => r.inFlight === 100)) {
    const rate = pacedRate > 0 ? pacedRate : Math.round(Math.min(...row.all) / 2);
    const p = await runPair<PacedResult>(row.impl, 1000, seconds, rate);
    if (p.mismatches > 0 || p.errors > 0) process.exitCode = 1;
    console.log(
      `| ${NAMES[row.impl]} | ${rate} | ${Math.round(p.callsPerSec)} | ${p.p50Ms.toFixed(2)} | ${p.p99Ms.toFixed(2)} | ${p.p999Ms.toFixed(2)} | ${p.late} | ${p.stalls} (${p.maxStallMs.toFixed(1)} ms) | ${p.errors + p.mismatches} |`,
    );
  }
}

const [mode, impl, port] = process.argv.slice(2);
if (mode === '--serve') await serve(impl as Impl);
else if (mode === '--serve-many') await serveMany(Number(impl));
else if (mode === '--client') await client(impl as Impl, Number(port));
else if (mode === '--client-phased') await phasedClient(impl as Impl, Number(port));
else await main();
