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
 * The client stack's cost: the full default stack against the serializer on a bare session, same
 * codec, server and connection, run back to back round after round. Each round's pair ran within
 * seconds of each other, so its ratio is far steadier than comparing best rounds on a shared box;
 * the median of the rounds' ratios is reported.
 */
/** Each stacked run against the bare session of the same round: calls/s and client CPU per call. */
export function stackOverheadTable(bare: RpcRow, stacked: readonly { what: string; row: RpcRow; target: string }[]): string {
  const median = (xs: number[]): number => {
    const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
    return v.length === 0 ? NaN : v.length % 2 === 1 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  };
  const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : '–');
  const all = (xs: number[]): string => xs.map(pct).join(' / ');
  const rows: string[][] = [];
  for (const { what, row, target } of stacked) {
    const rounds = Math.min(row.roundCallsPerSec.length, bare.roundCallsPerSec.length);
    const tput: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < rounds; i++) {
      tput.push(bare.roundCallsPerSec[i]! / row.roundCallsPerSec[i]! - 1);
      cpu.push(row.roundClientCpuUs[i]! / bare.roundClientCpuUs[i]! - 1);
    }
    rows.push([`${what}: calls/s`, int(median(bare.roundCallsPerSec)), int(median(row.roundCallsPerSec)), pct(median(tput)), all(tput), target]);
    rows.push([`${what}: client CPU µs/call`, us(median(bare.roundClientCpuUs)), us(median(row.roundClientCpuUs)), pct(median(cpu)), all(cpu), target]);
  }
  return table(['measure', 'bare session (median)', 'stacked (median)', 'overhead, median of rounds', 'rounds', 'target'], rows, [false, true, true, true, false, false]);
}
