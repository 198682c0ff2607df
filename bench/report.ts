/** Markdown for `npm run bench`: a header line and one table per section. */
import os from 'node:os';
import type { Row as CodecRow } from './codec.js';
import type { RpcRow } from './thrift-rpc.js';
import type { TransportBenchResult } from './transport.js';

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
const ratio = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '–');
const us = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');
const kilo = (n: number): string => `${Math.round(n / 1000)}k`;

function table(head: readonly string[], rows: readonly (readonly string[])[], right: readonly boolean[]): string {
  const sep = right.map((r) => (r ? '---:' : '---'));
  return [head, sep, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export function header(seconds: number): string {
  const cpus = os.cpus();
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  return (
    `${new Date().toISOString()} · ${cpus[0]?.model ?? 'unknown CPU'} · ${cpus.length} cores · Node ${process.version} · ` +
    `${os.platform()} ${os.release()} · load avg at start ${load} · ${seconds} s measured per RPC pair`
  );
}

export function transportTable(r: TransportBenchResult): string {
  return table(
    ['what', 'in flight', 'frame bytes', 'msgs/s'],
    [['Scales Connection echo, 2 processes (the ceiling)', String(r.inFlight), String(r.frameBytes), int(r.msgsPerSec)]],
    [false, true, true, true],
  );
}

export function rpcTable(rows: readonly RpcRow[], ceilingMsgsPerSec?: number): string {
  const head = [
    'pair',
    'protocol',
    'calls/s',
    'p50 ms',
    'p99 ms',
    'vs Apache → Apache',
    ...(ceilingMsgsPerSec ? ['% of ceiling'] : []),
    'client CPU µs/call',
    'server CPU µs/call',
    'rounds calls/s',
    'mismatches',
    'errors',
  ];
  const body = rows.map((r) => [
    r.label,
    r.protocol,
    int(r.callsPerSec),
    ms(r.p50Ms),
    ms(r.p99Ms),
    ratio(r.ratio),
    ...(ceilingMsgsPerSec ? [`${((100 * r.callsPerSec) / ceilingMsgsPerSec).toFixed(0)} %`] : []),
    us(r.clientCpuUs),
    us(r.serverCpuUs),
    r.roundCallsPerSec.map(kilo).join(' / '),
    String(r.mismatches),
    r.errors === 0 ? '0' : `${r.errors} (${r.firstError ?? '?'})`,
  ]);
  return table(head, body, head.map((h) => h !== 'pair' && h !== 'protocol'));
}

export function codecTable(rows: readonly CodecRow[]): string {
  return table(
    ['struct', 'protocol', 'op', 'Scales ops/s', 'Apache ops/s', 'ratio'],
    rows.map((r) => [r.case, r.protocol, r.op, int(r.oursOpsPerSec), int(r.apacheOpsPerSec), ratio(r.ratio)]),
    [false, false, false, true, true, true],
  );
}

/**
 * The client stack's cost: the full default stack (a) against the bare session (g), same codec,
 * server and connection. Client CPU per call is the steadier of the two numbers on a shared box.
 */
export function stackOverheadTable(rows: readonly RpcRow[]): string {
  const full = rows.find((r) => r.client === 'scales' && r.server === 'scales' && r.protocol === 'binary');
  const bare = rows.find((r) => r.client === 'scales-bare');
  if (full === undefined || bare === undefined) return '(not run)';
  const pct = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(((a - b) / b) * 100).toFixed(1)} %` : '–');
  return table(
    ['measure', 'bare session', 'full stack', 'overhead', 'target'],
    [
      ['calls/s', int(bare.callsPerSec), int(full.callsPerSec), pct(bare.callsPerSec, full.callsPerSec), '< 15 %'],
      ['client CPU µs/call', us(bare.clientCpuUs), us(full.clientCpuUs), pct(full.clientCpuUs, bare.clientCpuUs), ''],
    ],
    [false, true, true, true, false],
  );
}
