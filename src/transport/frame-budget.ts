import { FrameBudgetError, InvalidArgumentError, type ScalesError } from '../core/errors.js';

/** What a budget charges: a connection holding a partly received message. */
export interface FrameBudgetHolder {
  readonly endpoint: string;
  /** @internal Bytes charged to the budget now; written by the budget only. */
  budgetCharge: number;
  /** Closes the holder with `err`; closing must set its charge back to 0 (`budget.set(holder, 0)`). */
  evict(err: ScalesError): void;
}

const MiB = 1024 * 1024;

/**
 * A bound on the bytes held in partly received messages, shared by every connection charged to
 * it (servers charge `partialFrameBudget`, one per process). Bytes are charged as they arrive
 * (times the decoder's memoryFactor: twice for the buffered transport), not
 * as a length prefix announces them, so an honest large message costs only what it has sent so far.
 *
 * Past the limit, the holder with the most bytes is closed (FrameBudgetError), the oldest of
 * equals first, until the rest fit: it frees the most memory with one close, and a holder is the
 * biggest only by sending a large part of a message, so the small messages honest callers
 * pipeline (and that end within a chunk or two) are never what goes.
 */
export class FrameBudget {
  private max: number;
  private inUse = 0;
  private highest = 0;
  private evicted = 0;
  /** Holders with bytes charged, in the order they began holding (Set order: oldest first). */
  private readonly holders = new Set<FrameBudgetHolder>();

  constructor(limit: number) {
    this.max = checkLimit(limit);
  }

  /** Bytes allowed in partly received messages at once. */
  get limit(): number {
    return this.max;
  }

  set limit(bytes: number) {
    this.max = checkLimit(bytes);
    if (this.inUse > this.max) this.evictBiggest();
  }

  /** Bytes charged now. */
  get used(): number {
    return this.inUse;
  }

  /** Most bytes charged at once since the budget was made. */
  get peak(): number {
    return this.highest;
  }

  /** Holders closed for being the biggest when the budget ran over. */
  get evictions(): number {
    return this.evicted;
  }

  /** Connections holding a partial message now. */
  get holding(): number {
    return this.holders.size;
  }

  /**
   * Sets `holder`'s charge to `bytes`. Over the limit, the biggest holders are evicted (maybe
   * `holder` itself: check whether it is still open after this returns).
   */
  set(holder: FrameBudgetHolder, bytes: number): void {
    const before = holder.budgetCharge;
    if (bytes === before) return;
    holder.budgetCharge = bytes;
    this.inUse += bytes - before;
    if (bytes === 0) {
      this.holders.delete(holder);
      return;
    }
    if (before === 0) this.holders.add(holder);
    if (bytes < before) return;
    if (this.inUse > this.highest) this.highest = this.inUse;
    if (this.inUse > this.max) this.evictBiggest();
  }

  private evictBiggest(): void {
    while (this.inUse > this.max) {
      let biggest: FrameBudgetHolder | undefined;
      for (const h of this.holders) if (biggest === undefined || h.budgetCharge > biggest.budgetCharge) biggest = h;
      if (biggest === undefined) return;
      this.evicted++;
      const held = biggest.budgetCharge;
      biggest.evict(
        new FrameBudgetError(`partly received messages hold ${this.inUse} bytes, over the budget of ${this.max}; closing ${biggest.endpoint}, which holds the most (${held} bytes)`, {
          endpoint: biggest.endpoint,
        }),
      );
      // A holder that did not give its bytes back on close must not stall this loop.
      if (biggest.budgetCharge !== 0) this.set(biggest, 0);
    }
  }
}

function checkLimit(bytes: number): number {
  if (!(typeof bytes === 'number' && bytes > 0)) throw new InvalidArgumentError(`a frame budget must be a positive number of bytes, got ${String(bytes)}`);
  return bytes;
}

/** Default budget for partly received messages across the whole process. */
export const DEFAULT_PARTIAL_FRAME_BUDGET = 192 * MiB;

/**
 * The budget every server charges by default: 192 MiB across all connections of all servers in
 * the process (twelve 16 MiB framed messages arriving at once; six buffered ones, whose bytes are
 * charged twice for their accumulators). Not 256: with what a busy heap already holds, a flooded
 * server then went past 512 MB (test/hostile). Change it with
 * `partialFrameBudget.limit = bytes`, or give a server a `FrameBudget` of its own.
 */
export const partialFrameBudget = new FrameBudget(DEFAULT_PARTIAL_FRAME_BUDGET);
