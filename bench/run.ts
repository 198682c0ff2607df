/**
 * `npm run bench`: the transport ceiling, the RPC pairs (Scales vs the Apache `thrift` npm
 * package, separate processes) and the codec micro-benchmarks, printed as markdown and written to
 * bench/results.md. Env: BENCH_SECONDS (measured seconds per RPC pair, default 4),
 * BENCH_RESULTS (output file; "-" to skip writing).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCodecBench } from './codec.js';
import { balancerTable, runBalancerBench } from './balancer.js';
import { runStackBench, stackCostTable } from './stack.js';
import { codecTable, header, rpcTable, stackOverheadTable, transportTable } from './report.js';
import { OVERHEAD_PAIRS, runRpcBench } from './thrift-rpc.js';
import { runTransportBench } from './transport.js';

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
emit(`## Transport ceiling\n\nRaw pipelined echo of ${ceiling.frameBytes}-byte frames, ${ceiling.inFlight} in flight, client and echo server in separate processes, no RPC layer.\n\n${transportTable(ceiling)}`);

const rpc = await runRpcBench({ seconds });
emit(
  `## Thrift RPC: Scales vs Apache \`thrift\` npm\n\n` +
    `\`Item echo(1: Item item)\` (bench/idl/bench.thrift, ~95-byte struct), framed transport, 100 calls in flight on ONE connection, ` +
    `client and server in separate processes (Scales peers run the compiled package, dist/), 1 s warm-up then ${seconds} s measured. Ratio = calls/s over (b) (or (f) for compact). ` +
    `Mismatches = replies that were not the echo of their request (must be 0).\n\n${rpcTable(rpc, ceiling.msgsPerSec)}`,
);

const overheadRounds = Number(process.env['BENCH_OVERHEAD_ROUNDS'] ?? 8);
const [bare, full, withDeadline] = await runRpcBench({ seconds: Math.max(1, seconds / 2), rounds: overheadRounds, pairs: OVERHEAD_PAIRS, alternate: true });
emit(
  `## Client stack overhead\n\nThe full default client stack (stats, timeout, retries, serializer, p2c balancer with per-node stats, failure accrual, ` +
    `one pipelined connection), called through the client proxy, against the serializer on a bare ThriftSession; then the same stack with a 1 s timeout on every call. ` +
    `Same server, 100 in flight, ${overheadRounds} rounds, the runs of a round back to back (in reverse order every other round). ` +
    `Overhead per round: calls/s = bare/stacked − 1, CPU = stacked/bare − 1; the table gives the median of the rounds.\n\n` +
    `${stackOverheadTable(bare!, [
      { what: 'default stack', row: full!, target: '< 15 %' },
      { what: 'with a 1 s timeout', row: withDeadline!, target: '' },
    ])}`,
);

const stackCost = await runStackBench();
emit(`## Client stack cost in process\n\nThe default stack over a session that answers at once (no I/O), 100 in flight, best of 3 rounds after a warm-up; removing one role shows what it costs.\n\n${stackCostTable(stackCost)}`);

const balancers = await runBalancerBench();
emit(`## Load balancer pick cost\n\nOne pick + started + finished (what a call costs the balancer), in process, best of 3 rounds.\n\n${balancerTable(balancers)}`);

const codec = await runCodecBench();
emit(`## Codecs (in process)\n\nEncode = struct → owned Buffer, decode = Buffer → value; Scales' compiled codecs vs Apache's generated JS over TFramedTransport. Ratio = Scales / Apache.\n\n${codecTable(codec)}`);

emit(`_Finished in ${Math.round(process.uptime())} s; load avg at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}._`);

const bad = [...rpc, bare!, full!, withDeadline!].filter((r) => r.mismatches > 0 || r.errors > 0);
if (out !== '-') writeFileSync(out, `${parts.join('\n\n')}\n`);
if (bad.length > 0) {
  console.error(`FAILED: ${bad.map((r) => `${r.label} ${r.protocol}: ${r.mismatches} mismatches, ${r.errors} errors`).join('; ')}`);
  process.exitCode = 1;
}
