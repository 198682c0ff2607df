/**
 * `npm run bench`: the transport ceiling, the RPC pairs (Scales vs the Apache `thrift` npm
 * package, separate processes) and the codec micro-benchmarks, printed as markdown and written to
 * bench/results.md. Env: BENCH_SECONDS (measured seconds per RPC pair, default 4),
 * BENCH_RESULTS (output file; "-" to skip writing).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCodecBench } from './codec.js';
import { balancerTable, runBalancerBench } from './balancer.js';
import { runStackBench, stackCostTable } from './stack.js';
import { codecTable, header, phasedOverheadTable, rpcTable, transportTable } from './report.js';
import { runPhasedOverhead, runRpcBench, type PhasedRow } from './thrift-rpc.js';
import { runTransportBench } from './transport.js';
import { overloadTable, runOverloadBench } from './overload.js';

const here = dirname(fileURLToPath(import.meta.url));
const seconds = Number(process.env['BENCH_SECONDS'] ?? 4);
if (!(seconds > 0)) throw new Error(`BENCH_SECONDS must be a positive number, got '${process.env['BENCH_SECONDS']}'`);
const out = process.env['BENCH_RESULTS'] ?? join(here, 'results.md');

const parts: string[] = [];
function emit(text: string): void {
  parts.push(text);
  console.log(`${text}\n`);
}

emit('# Scales benchmarks');
emit(header(seconds));

const ceiling = await runTransportBench({ durationMs: Math.min(3000, seconds * 1000) });
emit(
  `## Transport ceiling\n\nRaw pipelined echo of ${ceiling.frameBytes}-byte frames, ${ceiling.inFlight} in flight, client and echo server in separate processes, no RPC layer.\n\n${transportTable(ceiling)}`,
);

const rpc = await runRpcBench({ seconds });
emit(
  `## Thrift RPC: Scales vs Apache \`thrift\` npm\n\n` +
    `\`Item echo(1: Item item)\` (bench/idl/bench.thrift, ~95-byte struct), framed transport, 100 calls in flight on ONE connection, ` +
    `client and server in separate processes (Scales peers run the compiled package, dist/), 1 s warm-up then ${seconds} s measured. Ratio = calls/s over (b) (or (f) for compact). ` +
    `Mismatches = replies that were not the echo of their request (must be 0).\n\n${rpcTable(rpc, ceiling.msgsPerSec)}`,
);

// Several sets of processes, pooled: each process's JIT makes its own inlining choices, and one
// set alone differed from the next by up to ±7 % here (two identical builds, by ±5 %).
const cycles = Number(process.env['BENCH_OVERHEAD_CYCLES'] ?? 10);
const sets = Number(process.env['BENCH_OVERHEAD_SETS'] ?? 5);
const overhead: PhasedRow[] = [];
for (let set = 0; set < sets; set++) {
  const rows = await runPhasedOverhead({ cycles, phaseMs: 250 });
  for (const [i, r] of rows.entries()) overhead[i] = { label: r.label, phases: [...(overhead[i]?.phases ?? []), ...r.phases] };
}
emit(
  `## Client stack overhead\n\nThe full default client stack (stats, timeout, retries, serializer, p2c balancer with per-node stats, failure accrual, ` +
    `one pipelined connection), called through the client proxy, against the serializer on a bare ThriftSession; then the same stack with a 1 s timeout on every call. ` +
    `Each client is its own process, all three talk to one server process, 100 calls in flight, and they take turns in 250 ms bursts ` +
    `(A B C, then C B A; ${cycles} cycles after a 1.5 s warm-up each), so that load from elsewhere on the machine falls on all of them alike; ` +
    `${sets} such sets of processes, pooled. ` +
    `Overhead: calls/s = bare/stacked − 1, CPU = stacked/bare − 1, over all bursts and as the median of the cycles.\n\n` +
    `${phasedOverheadTable(overhead, ['< 15 %', ''])}`,
);

const overload = await runOverloadBench();
emit(
  `## Goodput under overload\n\nThe default Thrift client (watermark pool: 8 connections, default admission) against a server process whose calls each wait 20 ms (50 ms in the burst), ` +
    `100 ms timeout on every call, calls sent open-loop at a fixed rate for 4 s (or 2000 at once). Capacity = 8 / one call's time alone. ` +
    `Goodput = succeeded / could succeed (target ≥ 90 %). Wasted server work = calls the server finished for a caller that had given up.\n\n${overloadTable(overload)}`,
);
const muxOverload = await runOverloadBench(undefined, 'thriftmux');
emit(
  `## Goodput under overload, ThriftMux\n\nThe same scenarios with the default ThriftMux client (one multiplexed connection, default retries and failure accrual) against a ThriftMux server with \`maxConcurrent\` 8: ` +
    `past 8 calls at once the server answers NACK at once and the client's retry budget decides what is sent again. Capacity = 8 / one call's time alone.\n\n${overloadTable(muxOverload)}`,
);

/** A benchmark that is its own script (it spawns its own peers): its printed tables, as a section. */
function scriptSection(title: string, script: string): void {
  const output = execFileSync(process.execPath, ['--import', 'tsx', join(here, script)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  emit(`## ${title}\n\n${output.trim()}`);
}

scriptSection('ThriftMux vs plain Thrift (Scales both), one connection', 'thriftmux.ts');
scriptSection('ZeroRPC: Scales vs the raw zeromq echo and a Python peer', 'zerorpc.ts');
scriptSection('TLS: what it costs a Thrift echo', 'tls.ts');
scriptSection('Queue RPC: Scales vs each broker client doing the raw operation', 'queue.ts');

const stackCost = await runStackBench();
emit(
  `## Client stack cost in process\n\nThe default stack over a session that answers at once (no I/O), 100 in flight, best of 3 rounds after a warm-up; removing one role shows what it costs.\n\n${stackCostTable(stackCost)}`,
);

const balancers = await runBalancerBench();
emit(`## Load balancer pick cost\n\nOne pick + started + finished (what a call costs the balancer), in process, best of 3 rounds.\n\n${balancerTable(balancers)}`);

const codec = await runCodecBench();
emit(
  `## Codecs (in process)\n\nEncode = struct → owned Buffer, decode = Buffer → value; Scales' compiled codecs vs Apache's generated JS over TFramedTransport. Ratio = Scales / Apache.\n\n${codecTable(codec)}`,
);

emit(
  `_Finished in ${Math.round(process.uptime())} s; load avg at end ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}._`,
);

const bad = [
  ...rpc.map((r) => ({ what: `${r.label} ${r.protocol}`, mismatches: r.mismatches, errors: r.errors })),
  ...overhead.map((r) => ({ what: r.label, mismatches: r.phases.reduce((n, p) => n + p.mismatches, 0), errors: r.phases.reduce((n, p) => n + p.errors, 0) })),
].filter((r) => r.mismatches > 0 || r.errors > 0);
if (out !== '-') writeFileSync(out, `${parts.join('\n\n')}\n`);
if (bad.length > 0) {
  console.error(`FAILED: ${bad.map((r) => `${r.what}: ${r.mismatches} mismatches, ${r.errors} errors`).join('; ')}`);
  process.exitCode = 1;
}
