/**
 * The closed-loop load both RPC clients run: `inFlight` callers on one connection, each sending
 * its next call as soon as its previous reply arrived. Warm-up first (not counted), then a
 * measured window; every reply is checked against the request that produced it.
 */
import { performance } from 'node:perf_hooks';

/** The request every call sends, apart from `id` (the call number) and `flag` (its parity). */
export const ITEM_NAME = 'scales-bench-item-name-0';
export const ITEM_VALUES: readonly number[] = [1, -2, 300, -40_000, 5_000_000, 6, 7, 8, 9, 2_147_483_647];

export interface LoadOptions {
  inFlight: number;
  warmupMs: number;
  measureMs: number;
  /** CPU time used so far (µs) by the client and the server process, read at both ends of the window. */
  cpu?: () => { client: number; server: number };
}

export interface LoadResult {
  /** Calls completed inside the measured window. */
  calls: number;
  seconds: number;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Replies that did not match their request (warm-up included). Must be 0. */
  mismatches: number;
  /** CPU time per completed call in the measured window (µs; NaN when it cannot be read). Less
   *  sensitive to other load on the machine than calls/s. */
  clientCpuUs: number;
  serverCpuUs: number;
  /** Calls that failed (warm-up included). */
  errors: number;
  firstError?: string;
}

/**
 * One library's call: `make(n)` builds request number n, `send` performs the RPC, `check` says
 * whether the reply is the echo of request n.
 */
export interface CallShape<Req, Rep> {
  make(n: number): Req;
  send(req: Req): Promise<Rep>;
  check(n: number, req: Req, reply: Rep): boolean;
}

export function sameValues(got: ArrayLike<number> | null | undefined): boolean {
  if (got == null || got.length !== ITEM_VALUES.length) return false;
  for (let i = 0; i < ITEM_VALUES.length; i++) if (got[i] !== ITEM_VALUES[i]) return false;
  return true;
}

/** One closed-loop call in this many is timed for the latency percentiles. */
const TIME_EVERY = 8;

/** Outcomes of a closed loop's calls (replies that match are counted by the caller's `onReply`). */
class Tally {
  mismatches = 0;
  errors = 0;
  firstError: string | undefined = undefined;
  /** Set after too many errors: a broken peer stops the loop instead of spinning. */
  broken = false;
}

/**
 * `inFlight` callers, each sending its next call as soon as its previous reply arrived, while
 * `going()`; resolves once all have stopped. `onReply` gets each matching reply's latency in ms
 * for one call in `timeEvery` (a power of 2; 0: none), and -1 for the others: two clock reads
 * per call were ~3 % of a fast client's CPU, and one call in 8 still gives the percentiles
 * hundreds of thousands of samples.
 */
function closedLoop<Req, Rep>(
  shape: CallShape<Req, Rep>,
  inFlight: number,
  first: number,
  going: () => boolean,
  tally: Tally,
  onReply: (latencyMs: number) => void,
  timeEvery: number,
): Promise<unknown> {
  let next = first;
  const mask = timeEvery - 1;
  async function caller(): Promise<void> {
    while (going() && !tally.broken) {
      const n = next++;
      const req = shape.make(n);
      const timed = timeEvery > 0 && (n & mask) === 0;
      const t0 = timed ? performance.now() : 0;
      try {
        const reply = await shape.send(req);
        if (shape.check(n, req, reply)) onReply(timed ? performance.now() - t0 : -1);
        else tally.mismatches++;
      } catch (err) {
        tally.errors++;
        tally.firstError ??= err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        if (tally.errors > 1000) tally.broken = true;
      }
    }
  }
  return Promise.all(Array.from({ length: inFlight }, caller));
}

export async function runLoad<Req, Rep>(shape: CallShape<Req, Rep>, o: LoadOptions): Promise<LoadResult> {
  // Latencies in microseconds, preallocated: recording must not allocate on the hot path.
  const capacity = Math.max(1 << 20, Math.ceil((o.measureMs / 1000) * 1_000_000));
  const latencies = new Float32Array(capacity);
  let recorded = 0;
  let calls = 0;
  let measuring = false;
  let running = true;
  const tally = new Tally();
  const loop = closedLoop(
    shape,
    o.inFlight,
    0,
    () => running,
    tally,
    (ms) => {
      if (!measuring) return;
      calls++;
      if (ms >= 0 && recorded < capacity) latencies[recorded++] = ms * 1000;
    },
    TIME_EVERY,
  );
  await sleep(o.warmupMs);
  const cpu0 = o.cpu?.();
  measuring = true;
  const start = performance.now();
  await sleep(o.measureMs);
  measuring = false;
  const seconds = (performance.now() - start) / 1000;
  const cpu1 = o.cpu?.();
  running = false;
  await loop;

  const sorted = latencies.subarray(0, recorded).sort();
  const pct = (p: number): number => (recorded === 0 ? NaN : sorted[Math.min(recorded - 1, Math.floor(p * recorded))]! / 1000);
  return {
    calls,
    seconds,
    callsPerSec: calls / seconds,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    mismatches: tally.mismatches,
    clientCpuUs: cpu0 && cpu1 ? (cpu1.client - cpu0.client) / calls : NaN,
    serverCpuUs: cpu0 && cpu1 ? (cpu1.server - cpu0.server) / calls : NaN,
    errors: tally.errors,
    ...(tally.firstError !== undefined ? { firstError: tally.firstError } : {}),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** What one phase of a phased run did (see runPhase). */
export interface PhaseResult {
  calls: number;
  seconds: number;
  /** This process's CPU time over the phase, µs. */
  cpuUs: number;
  mismatches: number;
  errors: number;
  firstError?: string;
}

/**
 * A short burst of the same closed loop: `inFlight` callers for `ms`, then until the calls in
 * flight are answered. The stack-overhead benchmark gives the clients it compares such bursts in
 * turn, so that load from elsewhere on the machine falls on all of them alike.
 */
export async function runPhase<Req, Rep>(shape: CallShape<Req, Rep>, inFlight: number, ms: number, cpuUs: () => number, first = 0): Promise<PhaseResult> {
  let running = true;
  let calls = 0;
  const tally = new Tally();
  const cpu0 = cpuUs();
  const t0 = performance.now();
  const timer = setTimeout(() => (running = false), ms);
  await closedLoop(
    shape,
    inFlight,
    first,
    () => running,
    tally,
    () => calls++,
    0,
  );
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  const { mismatches, errors, firstError } = tally;
  return { calls, seconds, cpuUs: cpuUs() - cpu0, mismatches, errors, ...(firstError !== undefined ? { firstError } : {}) };
}
