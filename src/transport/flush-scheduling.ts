/**
 * When a connection flushes its batch buffer. Every message written before the flush runs goes
 * out in one `socket.write`.
 *
 * Default `immediate` (setImmediate), measured with bench/transport.ts: pipelined echo, 100 in
 * flight, 100-byte frames, two processes pinned to one core (unpinned runs on this shared 2-core
 * VM are dominated by cross-core wakeups and are a tie), medians of 6 interleaved runs:
 *   sync replies:                       immediate 1.74M msgs/s, nextTick 1.40M
 *   mixed sync/async replies (0-2 awaits): immediate 1.44M, nextTick 1.12M, microtask 0.88M
 * Why: setImmediate flushes once per connection per event-loop iteration, after every I/O callback
 * of the poll phase and every promise continuation they triggered, so replies written in several
 * microtask waves still share one write (nextTick flushes before the microtasks of the current
 * callback run, queueMicrotask flushes mid-wave). It adds no loop pass: the check phase follows
 * the poll phase of the same iteration.
 * The others stay selectable for measuring.
 */
export type FlushScheduling = 'nextTick' | 'microtask' | 'immediate';

export type Scheduler = (callback: () => void) => void;

const schedulers: Record<FlushScheduling, Scheduler> = {
  nextTick: process.nextTick,
  microtask: queueMicrotask,
  immediate: setImmediate as unknown as Scheduler,
};

let current: FlushScheduling = 'immediate';
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

/**
 * Experiment (issue 11, "overlap"): after every this many messages of one read (0: off), a
 * connection stops delivering, lets their continuations run and write, flushes, then goes on
 * with the rest of the read. Batches of about this size then circulate between two processes
 * instead of one batch of everything in flight, so both can work at once. Read by every
 * connection on each delivery.
 */
export let readSplit = 0;

/** Process-wide, for benchmarks; 0 turns the split off. */
export function setReadSplit(messages: number): void {
  readSplit = messages > 0 ? Math.floor(messages) : 0;
}
