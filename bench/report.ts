/** Markdown for `npm run bench`: a header line and one table per section. */
import os from 'node:os';
import type { Row as CodecRow } from './codec.js';
import type { PhaseResult } from './peers/load.js';
import type { PhasedRow, RpcRow } from './thrift-rpc.js';
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
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
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
  return table(
    head,
    body,
    head.map((h) => h !== 'pair' && h !== 'protocol'),
  );
}

export function codecTable(rows: readonly CodecRow[]): string {
  return table(
    ['struct', 'protocol', 'op', 'Scales ops/s', 'Apache ops/s', 'ratio'],
    rows.map((r) => [r.case, r.protocol, r.op, int(r.oursOpsPerSec), int(r.apacheOpsPerSec), ratio(r.ratio)]),
    [false, false, false, true, true, true],
  );
}

/**
 * The client stack's cost: the full default stack against the serializer on a bare session, same
 * codec, server and connection, run back to back round after round. Each round's pair ran within
 * seconds of each other, so its ratio is far steadier than comparing best rounds on a shared box;
 * the median of the rounds' ratios is reported.
 */
function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length === 0 ? NaN : v.length % 2 === 1 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : '–');

/** Overheads of each phased row against the first (the bare session), burst by burst and in total. */
export function phasedOverheadTable(rows: readonly PhasedRow[], targets: readonly string[]): string {
  const bare = rows[0]!;
  const sum = (ps: readonly PhaseResult[], f: (p: PhaseResult) => number): number => ps.reduce((n, p) => n + f(p), 0);
  const cpuPerCall = (ps: readonly PhaseResult[]): number => sum(ps, (p) => p.cpuUs) / sum(ps, (p) => p.calls);
  const callsPerSec = (ps: readonly PhaseResult[]): number => sum(ps, (p) => p.calls) / sum(ps, (p) => p.seconds);
  const out: string[][] = [];
  rows.slice(1).forEach((row, k) => {
    const n = Math.min(row.phases.length, bare.phases.length);
    const tput: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < n; i++) {
      const b = bare.phases[i]!;
      const r = row.phases[i]!;
      tput.push(b.calls / b.seconds / (r.calls / r.seconds) - 1);
      cpu.push(r.cpuUs / r.calls / (b.cpuUs / b.calls) - 1);
    }
    const target = targets[k] ?? '';
    out.push([`${row.label}: calls/s`, int(callsPerSec(bare.phases)), int(callsPerSec(row.phases)), pct(callsPerSec(bare.phases) / callsPerSec(row.phases) - 1), pct(median(tput)), target]);
    out.push([`${row.label}: client CPU µs/call`, us2(cpuPerCall(bare.phases)), us2(cpuPerCall(row.phases)), pct(cpuPerCall(row.phases) / cpuPerCall(bare.phases) - 1), pct(median(cpu)), target]);
  });
  return table(['measure', 'bare session', 'stacked', 'overhead, all bursts', 'overhead, median of cycles', 'target'], out, [false, true, true, true, true, false]);
}

const us2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
