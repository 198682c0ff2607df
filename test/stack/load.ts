// A small steady-load driver for fault-injection tests: K concurrent callers, each in a loop
// (next call as soon as the previous one settles), recording every call's outcome, start/end
// time, error code and endpoint, and which server answered.
import { isScalesError } from '../../src/core/errors.js';

/** One finished call. Times are `Date.now()` ms. */
export interface CallRecord {
  readonly caller: number;
  readonly seq: number;
  /** Position among all calls of this load by start (0, 1, 2...): finer than `start` ms. */
  readonly order: number;
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  /** The server that answered (successes only). */
  readonly server?: string;
  /** ScalesError code (e.g. SCALES_ERR_TIMEOUT), or the error's own `code`, or its name. */
  readonly code?: string;
  /** The endpoint a ScalesError names, if any. */
  readonly endpoint?: string;
  readonly error?: unknown;
}

/** One call: resolves to the name of the server that answered, rejects on failure. */
export type CallFn = (caller: number, seq: number) => Promise<string>;

export function errorCode(err: unknown): string {
  if (isScalesError(err)) return err.code;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return (err as Error | undefined)?.name ?? 'UNKNOWN';
}

export class Load {
  readonly records: CallRecord[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  /** Calls started and not finished, by caller. */
  private readonly pending = new Map<number, number>();
  private nextOrder = 0;

  constructor(
    private readonly call: CallFn,
    readonly concurrency: number,
  ) {}

  start(): this {
    if (this.running) throw new Error('load already running');
    this.running = true;
    for (let k = 0; k < this.concurrency; k++) this.loops.push(this.loop(k));
    return this;
  }

  /** Stops starting calls; resolves once every caller's last call has settled. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Calls in flight now. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** A mark for `startedAfter`: calls started from now on have `order >= mark()`. */
  mark(): number {
    return this.nextOrder;
  }

  /** Records of calls started after `mark` was taken. */
  startedAfter(mark: number): CallRecord[] {
    return this.records.filter((r) => r.order >= mark);
  }

  /** Records of calls that started in [from, to). */
  started(from: number, to = Infinity): CallRecord[] {
    return this.records.filter((r) => r.start >= from && r.start < to);
  }

  /** Records of calls that ended in [from, to). */
  ended(from: number, to = Infinity): CallRecord[] {
    return this.records.filter((r) => r.end >= from && r.end < to);
  }

  private async loop(caller: number): Promise<void> {
    for (let seq = 0; this.running; seq++) {
      const start = Date.now();
      const order = this.nextOrder++;
      this.pending.set(caller, start);
      let rec: CallRecord;
      try {
        const server = await this.call(caller, seq);
        rec = { caller, seq, order, start, end: Date.now(), ok: true, server };
      } catch (error) {
        const endpoint = isScalesError(error) ? error.endpoint : undefined;
        rec = { caller, seq, order, start, end: Date.now(), ok: false, code: errorCode(error), endpoint, error };
      } finally {
        this.pending.delete(caller);
      }
      this.records.push(rec);
      // Calls that fail fast settle in microtasks: yield, so timers and I/O still run.
      if (!rec.ok || rec.end === rec.start) await new Promise((r) => setImmediate(r));
    }
  }
}

/** Counts of `values`, e.g. servers that answered: { a: 10, b: 12 }. */
export function tally(values: Iterable<string | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const k = v ?? '(none)';
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

export { sleep, until } from '../harness/wait.js';
