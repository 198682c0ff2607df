/**
 * BENCH_PIN=S,C: a benchmark's server process runs on CPU S and its client processes on CPU C.
 * On 2 cores the scheduler sometimes puts both peers on one core, which halves calls/s for
 * that round; peers on two machines never share a core, so pinned runs describe the code.
 * `taskset` execs the command, so the child's pid is the peer's own (its /proc CPU is read).
 */
export function pinnedCommand(role: 'server' | 'client', cmd: string, args: string[]): [string, string[]] {
  const pin = process.env['BENCH_PIN'];
  if (pin === undefined || pin === '') return [cmd, args];
  const [server, client] = pin.split(',');
  const cpu = role === 'server' ? server : client;
  if (cpu === undefined || !/^\d+$/.test(cpu)) throw new Error(`BENCH_PIN=${pin}: want two CPU numbers, "S,C"`);
  return ['taskset', ['-c', cpu, cmd, ...args]];
}
