/**
 * When a connection flushes its batch buffer. Every message written before the flush runs goes
 * out in one `socket.write`.
 *
 * Default `nextTick`, measured with bench/transport.ts (pipelined echo, 100 in flight, 100-byte
 * frames, two processes; see the numbers in that file). `nextTick` runs after the current
 * callback AND after the promise continuations it triggers (Node drains microtasks before the
 * next tick queue pass ends), so replies resolved by promises in one turn still share one write,
 * with no added latency. `queueMicrotask` can flush before later continuations of the same turn
 * have written; `setImmediate` waits for the check phase (an extra loop pass per round trip).
 * The others stay selectable for measuring.
 */
export type FlushScheduling = 'nextTick' | 'microtask' | 'immediate';

export type Scheduler = (callback: () => void) => void;

const schedulers: Record<FlushScheduling, Scheduler> = {
  nextTick: process.nextTick,
  microtask: queueMicrotask,
  immediate: setImmediate as unknown as Scheduler,
};

let current: FlushScheduling = 'nextTick';
/** Read by connections on every flush they schedule (a plain call through a module binding). */
export let scheduleFlush: Scheduler = schedulers[current];

/** Process-wide; for benchmarks and experiments. Affects flushes scheduled after the call. */
export function setFlushScheduling(kind: FlushScheduling): void {
  current = kind;
  scheduleFlush = schedulers[kind];
}

export function getFlushScheduling(): FlushScheduling {
  return current;
}
