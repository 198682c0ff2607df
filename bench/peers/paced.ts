/**
 * An open-loop load at a fixed rate (the latency half of the benchmark: p99 at half the peak
 * rate). Calls are due at `start + k / rate`; every event-loop turn sends the calls due by then, and a
 * call's latency counts from when it was due, so a stalled sender shows up in the percentiles
 * instead of hiding (no coordinated omission). At most `maxInFlight` calls are outstanding; a
 * call due while that many are out is counted as `late` and sent when one returns.
 */
import { performance } from 'node:perf_hooks';
import type { CallShape } from './load.js';

export interface PacedResult {
  rate: number;
  calls: number;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** Calls that could not be sent when due (the cap on outstanding calls was reached). */
  late: number;
  /** The sender's own stalls: event-loop turns that began more than 2 ms after the one before (GC, a long read), and the longest. */
  stalls: number;
  maxStallMs: number;
  errors: number;
  mismatches: number;
}

/**
 * `warmupMs` at the rate (not recorded), then `measureMs` recorded, in one run: the same closures
 * carry both. As two runs (a warm-up, then the measured one with closures of its own), the first
 * 50–100 ms of every traced window ran at a fraction of the rate (~1 ms event-loop turns with no
 * GC and the process on its core) and left a backlog of up to 13,000 calls, most of the p99 at half
 * the peak. The window opens at the first turn after the warm-up with nothing overdue (a fresh
 * process starts far behind the rate), or after twice the warm-up in any case.
 */
export async function runPaced<Req, Rep>(shape: CallShape<Req, Rep>, rate: number, warmupMs: number, measureMs: number, maxInFlight: number): Promise<PacedResult> {
  const measured = Math.floor((rate * measureMs) / 1000);
  // Made before the warm-up: recording must not allocate, and a fresh 8 MB array at the start of
  // the window once set off a mark-sweep 0.1 s into it (the sender stalled for up to 18 ms).
  const latencies = new Float64Array(measured);
  /** The first measured call (-1 until the window opens) and the end of the run. */
  let first = -1;
  let total = Number.MAX_SAFE_INTEGER;
  let recorded = 0;
  let sent = 0;
  let outstanding = 0;
  let late = 0;
  let stalls = 0;
  let maxStallMs = 0;
  let lastTick = 0;
  let countedLate = 0;
  /** Calls due by the last tick. */
  let dueCount = 0;
  let errors = 0;
  let mismatches = 0;
  const start = performance.now();
  /** When the first measured call was due. */
  let windowStart = Infinity;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));

  const send = (k: number): void => {
    const due = start + (k * 1000) / rate;
    const req = shape.make(k);
    outstanding++;
    shape.send(req).then(
      (reply) => {
        outstanding--;
        if (!shape.check(k, req, reply)) mismatches++;
        else if (first >= 0 && k >= first) latencies[recorded++] = performance.now() - due;
        // A call already due waits for a free slot: it goes now, in this reply's batch, as a
        // closed loop's would. Waiting for the next tick sent the whole backlog as one burst per
        // turn, so the two processes took turns instead of overlapping and a backlog drained slowly.
        if (sent < dueCount) send(sent++);
        else settle();
      },
      () => {
        outstanding--;
        errors++;
        settle();
      },
    );
  };
  const settle = (): void => {
    if (sent === total && outstanding === 0) finish();
  };
  const tick = (): void => {
    const now = performance.now();
    if (first < 0 && now - start >= warmupMs && (sent >= dueCount || now - start >= 2 * warmupMs)) {
      // Caught up (nothing due by the last turn is unsent): the calls due from now on are measured.
      first = Math.floor(((now - start) * rate) / 1000) + 1;
      total = first + measured;
      windowStart = start + (first * 1000) / rate;
    }
    if (lastTick > 0 && now - lastTick > 2 && now >= windowStart) {
      stalls++;
      if (now - lastTick > maxStallMs) maxStallMs = now - lastTick;
    }
    lastTick = now;
    const dueNow = Math.min(total, Math.floor(((now - start) * rate) / 1000) + 1);
    dueCount = dueNow;
    while (sent < dueNow) {
      if (outstanding >= maxInFlight) {
        // Only measured calls count as late (the warm-up's were due before the window).
        const from = Math.max(sent, countedLate, first < 0 ? Number.MAX_SAFE_INTEGER : first);
        if (dueNow > from) late += dueNow - from;
        countedLate = dueNow;
        break;
      }
      send(sent++);
    }
    if (sent === total) return settle();
    // A call due within 2 ms: go round the event loop (its I/O phase included) rather than wait
    // for a 1 ms timer, which fired ~1.1 ms later and sent each tick's calls as one burst, ~0.6 ms
    // late on average (the sender's lateness, not the RPC's, was half of the measured p50). A
    // slow rate sleeps until just before its next call instead of spinning a core meanwhile.
    const waitMs = start + (sent * 1000) / rate - performance.now();
    if (waitMs <= 2) return void setImmediate(tick);
    lastTick = 0; // a planned sleep is not a stall
    setTimeout(tick, waitMs - 1.5);
  };
  tick();
  await done;
  const seconds = (performance.now() - windowStart) / 1000;
  const sorted = latencies.subarray(0, recorded).sort();
  const pct = (p: number): number => (recorded === 0 ? NaN : sorted[Math.min(recorded - 1, Math.floor(p * recorded))]!);
  return { rate, calls: recorded, callsPerSec: recorded / seconds, p50Ms: pct(0.5), p99Ms: pct(0.99), p999Ms: pct(0.999), late, stalls, maxStallMs, errors, mismatches };
}
