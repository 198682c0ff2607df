/**
 * Top self-time functions of `node --cpu-prof` profiles, e.g. of the RPC peers:
 *   BENCH_CPU_PROF=/tmp/prof npx tsx bench/thrift-rpc.ts
 *   npx tsx bench/profile.ts /tmp/prof/CPU.*.cpuprofile [--top 25]
 * Percentages are of the busy (non-idle) time of each profile.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  where: string;
  selfMs: number;
  /** Share of the non-idle time. */
  percent: number;
}

export function hotSpots(profile: CpuProfile, top = 20): { busyMs: number; idleMs: number; spots: HotSpot[] } {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const self = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += dt;
      continue;
    }
    busy += dt;
    const file = url.startsWith('file://') ? relative(process.cwd(), fileURLToPath(url)) : url || '(native)';
    const key = `${file}:${lineNumber + 1} ${functionName || '(anonymous)'}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const spots = [...self.entries()]
    .map(([where, selfMs]) => ({ where, selfMs, percent: (100 * selfMs) / busy }))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, top);
  return { busyMs: busy, idleMs: idle, spots };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 20;
  for (const file of args) {
    const { busyMs, idleMs, spots } = hotSpots(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top);
    if (busyMs < 200) continue; // tsx's loader thread and other idle side profiles
    console.log(`\n${file}: busy ${busyMs.toFixed(0)} ms, idle ${idleMs.toFixed(0)} ms`);
    for (const s of spots) console.log(`${s.percent.toFixed(1).padStart(5)} %  ${s.selfMs.toFixed(0).padStart(6)} ms  ${s.where}`);
  }
}
