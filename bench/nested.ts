/**
 * A handler that calls another service: A → B → C over ThriftMux, all in one process (one core
 * does all four sides), 100 calls in flight from A, B's handler awaiting its own call to C. CPU
 * per A-call and calls/s, medians of interleaved rounds; BENCH_AB=dirA,dirB compares two builds
 * (as BENCH_DIST names them), each round in a fresh process, alternating.
 *   npx tsc -p tsconfig.build.json && npx tsx bench/nested.ts
 *   BENCH_AB=../../tmp/base/dist,dist BENCH_ROUNDS=5 npx tsx bench/nested.ts
 * What it watches: the per-request cost a middle tier pays for inheriting the caller's deadline,
 * values and cancellation (core/abort-watch.ts: ~25 µs a request while nested calls followed the
 * request through its AbortSignal).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EchoClient } from '../test/fixtures/echo-service.js';
import { EchoService } from '../test/fixtures/echo-service.js';

type ThriftMuxIndex = typeof import('../src/protocols/thriftmux/index.js');

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

interface Round {
  readonly build: string;
  readonly callsPerSec: number;
  readonly cpuUsPerCall: number;
}

async function oneRound(build: string): Promise<Round> {
  const { ThriftMux } = (await import(new URL(`../${build}/protocols/thriftmux/index.js`, import.meta.url).href)) as ThriftMuxIndex;
  const c = await ThriftMux.serve(EchoService, { echo: (id, _delay, payload) => ({ id, payload }) }, { onError: false });
  const toC = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${c.port}`, { timeout: 5000 });
  const b = await ThriftMux.serve(EchoService, { echo: (id, delay, payload) => toC.echo(id, delay, payload) }, { onError: false });
  const toB = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${b.port}`, { timeout: 5000 });
  const run = async (ms: number): Promise<Round> => {
    let calls = 0;
    const end = performance.now() + ms;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const caller = async (): Promise<void> => {
      while (performance.now() < end) {
        const r = await toB.echo(7n, 0, 'nested');
        if (r.id !== 7n || r.payload !== 'nested') throw new Error(`wrong reply ${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
        calls++;
      }
    };
    await Promise.all(Array.from({ length: 100 }, caller));
    const used = process.cpuUsage(cpu0);
    return { build, callsPerSec: calls / ((performance.now() - t0) / 1000), cpuUsPerCall: (used.user + used.system) / calls };
  };
  await run(1000); // warm-up
  const r = await run(SECONDS * 1000);
  await (toB as EchoClient & { $close(): Promise<void> }).$close();
  await toC.$close();
  await b.close();
  await c.close();
  return r;
}

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

if (process.argv[2] === 'round') {
  console.log(JSON.stringify(await oneRound(process.argv[3]!)));
} else {
  const builds = (process.env['BENCH_AB'] ?? 'dist').split(',').filter((x) => x !== '');
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // A B, then B A: load from elsewhere falls on both alike.
    for (const build of i % 2 === 0 ? builds : [...builds].reverse()) {
      const out = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'round', build], { encoding: 'utf8' });
      if (out.status !== 0) throw new Error(`round on ${build} failed: ${out.stderr}`);
      rounds.push(JSON.parse(out.stdout.trim().split('\n').pop()!) as Round);
    }
  }
  console.log('| build | A → B → C calls/s (median) | CPU µs per A-call (median) | rounds calls/s |');
  console.log('|---|---:|---:|---|');
  for (const build of builds) {
    const mine = rounds.filter((r) => r.build === build);
    const rate = Math.round(median(mine.map((r) => r.callsPerSec)));
    const cpu = median(mine.map((r) => r.cpuUsPerCall)).toFixed(1);
    console.log(`| ${build} | ${rate} | ${cpu} | ${mine.map((r) => Math.round(r.callsPerSec)).join(', ')} |`);
  }
}
