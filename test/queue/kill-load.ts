/**
 * The at-least-once proof under kill -9: N calls through a queue while consumer worker processes
 * (test/peers/queue_worker.ts) are SIGKILLed at random mid-handler and replaced. Every call must
 * be handled at least once (none lost); duplicates are counted and must stay within what the
 * kills can explain (each kill loses at most the handlers it was running and the acks not yet
 * sent, which come back after the lease).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue } from '../../src/protocols/queue/index.js';
import { Jobs } from './jobs.js';

const WORKER = fileURLToPath(new URL('../peers/queue_worker.ts', import.meta.url));

export interface KillLoadOptions {
  dest: string;
  calls: number;
  workers: number;
  concurrency: number;
  leaseMs: number;
  /** Workers to SIGKILL, spread evenly over the first 90 % of the calls handled. */
  kills: number;
  maxSleepMs: number;
  timeoutMs: number;
}

export interface KillLoadResult {
  handled: number;
  distinct: number;
  missing: number;
  duplicates: number;
  /** Handled on a second or later delivery: what the kills interrupted (and the lease brought back). */
  redelivered: number;
  kills: number;
  plannedKills: number;
  sendMs: number;
  totalMs: number;
  producerErrors: number;
}

export async function killLoad(o: KillLoadOptions): Promise<KillLoadResult> {
  const counts = new Uint8Array(o.calls);
  let handled = 0;
  let distinctCount = 0;
  const distinct = (): number => distinctCount;
  let redelivered = 0;
  const workers = new Set<ChildProcess>();
  /** Workers consuming now: a kill aimed at one still starting would interrupt nothing. */
  const ready = new Set<ChildProcess>();
  /** When each worker last reported handled calls: the victim is the busiest, so a kill interrupts handlers. */
  const lastHandled = new Map<ChildProcess, number>();
  const start = (): Promise<ChildProcess> =>
    new Promise((resolve, reject) => {
      const child = fork(WORKER, [o.dest, String(o.concurrency), String(o.leaseMs), String(o.maxSleepMs)], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.on('message', (m: { handled?: string[]; redelivered?: number; ready?: boolean }) => {
        if (m.ready) {
          ready.add(child);
          resolve(child);
        }
        redelivered += m.redelivered ?? 0;
        if ((m.handled?.length ?? 0) > 0) lastHandled.set(child, performance.now());
        for (const id of m.handled ?? []) {
          const i = Number(id);
          if (counts[i] === 0) distinctCount++;
          if (counts[i]! < 255) counts[i]!++;
          handled++;
        }
      });
      child.once('exit', () => {
        workers.delete(child);
        ready.delete(child);
      });
      child.once('error', reject);
      workers.add(child);
    });
  const t0 = performance.now();
  await Promise.all(Array.from({ length: o.workers }, () => start()));

  // Kills are paced by progress, not by the clock: kill k lands when k/(kills+1) of 90 % of the calls
  // have been handled, so every planned kill lands mid-run however fast or slow the machine is
  // (a clock-paced killer landed only 2 of 8 on a fast CI run that finished in 9 s).
  let kills = 0;
  let stopKilling = false;
  const killer = (async () => {
    while (!stopKilling && kills < o.kills) {
      await new Promise((r) => setTimeout(r, 10));
      if (distinct() < ((o.calls * 0.9) / (o.kills + 1)) * (kills + 1)) continue;
      // The worker that reported handled calls last is the one most likely running handlers now
      // (a broker may hand one worker most messages while the others idle: killing an idle one
      // interrupted nothing in a CI run). Random among workers that have handled none yet.
      let victim: ChildProcess | undefined;
      for (const w of ready) if (victim === undefined || (lastHandled.get(w) ?? 0) > (lastHandled.get(victim) ?? 0)) victim = w;
      if (victim === undefined) continue;
      ready.delete(victim); // never picked again while it is dying
      victim.kill('SIGKILL');
      kills++;
      void start(); // the replacement starts while the others keep working
    }
  })();

  const client = Queue.newClient(Jobs, o.dest, { maxBuffered: 20_000 });
  let producerErrors = 0;
  const chunk = 5000;
  for (let base = 0; base < o.calls; base += chunk) {
    const n = Math.min(chunk, o.calls - base);
    const r = await Promise.allSettled(Array.from({ length: n }, (_, i) => client.notify(BigInt(base + i), 'x')));
    producerErrors += r.filter((x) => x.status === 'rejected').length;
  }
  const sendMs = performance.now() - t0;
  await client.$close();

  const deadline = Date.now() + o.timeoutMs;
  while (distinct() < o.calls && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  stopKilling = true;
  await killer;
  // Let the stragglers' duplicates (redeliveries after the last kill) arrive before counting.
  await new Promise((r) => setTimeout(r, o.leaseMs + 1500));
  for (const w of workers) w.kill('SIGKILL');
  const d = distinct();
  return { handled, distinct: d, missing: o.calls - d, duplicates: handled - d, redelivered, kills, plannedKills: o.kills, sendMs, totalMs: performance.now() - t0, producerErrors };
}
