/** CPU time (user + system, µs) of this process and of another one, for per-call CPU cost. */
import { readFileSync } from 'node:fs';

// Linux reports utime/stime in clock ticks; 100 per second on every mainstream kernel config.
const TICK_US = 10_000;

/** CPU µs used so far by process `pid`, from /proc (NaN where /proc is not available). */
export function otherProcessCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime 14, stime 15 (1-based, whole line).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * TICK_US;
  } catch {
    return NaN;
  }
}

export function ownCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}
