/**
 * Call deadlines kept in lists with one Node timer each, instead of a `setTimeout` and a
 * `clearTimeout` per call (~370 ns a pair here, timed in a loop).
 *
 * A client's calls mostly share one timeout, so they arrive in the order they expire: the list
 * only appends (an entry due before the tail is refused, and its caller uses its own timer) and
 * its timer is armed for the head alone. A call that settles unlinks itself (O(1)). When the
 * timer fires, every due entry expires and the timer is armed again for the new head.
 *
 * A list that empties keeps its timer, unref'd (an idle client holds no timer that keeps the
 * process alive), and the next entry takes it back if it is not due before it: calls answered
 * one at a time — a server's synchronous handlers, a client with one call in flight — would
 * otherwise pay a `setTimeout` and a `clearTimeout` each (against ~15 ns for unref and ref).
 * Such a timer fires at most once more, early, and is armed again for the head.
 */
import { MAX_TIMER_MS, performance } from '../core/clock.js';

/** What a list holds: the links live in the entry itself (no allocation per call). */
export interface DeadlineEntry {
  /** `performance.now()` after which the entry expires. */
  expiresAt: number;
  prevDeadline: DeadlineEntry | undefined;
  nextDeadline: DeadlineEntry | undefined;
  /** The list the entry is in, if any. */
  deadlineList: DeadlineList | undefined;
  /** Called once, when the deadline passes while the entry is still in its list. */
  expire(): void;
}

export class DeadlineList {
  private head: DeadlineEntry | undefined = undefined;
  private tail: DeadlineEntry | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;
  /** When `timer` fires (`performance.now()` time). */
  private timerAt = 0;
  /** `timer` is kept unref'd while the list is empty. */
  private timerIdle = false;
  private readonly onTimer = (): void => this.fire();

  /** Entries in the list (for tests). */
  size = 0;

  /** Appends `e`, due at `e.expiresAt` (finite); false (and not added) if it is due before the tail. */
  add(e: DeadlineEntry): boolean {
    const at = e.expiresAt;
    if (this.tail !== undefined && at < this.tail.expiresAt) return false;
    e.deadlineList = this;
    e.nextDeadline = undefined;
    e.prevDeadline = this.tail;
    if (this.tail === undefined) this.head = e;
    else this.tail.nextDeadline = e;
    this.tail = e;
    this.size++;
    if (this.timer === undefined) this.arm(at, performance.now());
    else if (this.timerIdle) this.wake(at);
    return true;
  }

  /** The first entry after the list emptied: the idle timer serves if it fires no later than `at`. */
  private wake(at: number): void {
    this.timerIdle = false;
    if (this.timerAt <= at) {
      this.timer!.ref();
      return;
    }
    clearTimeout(this.timer);
    this.arm(at, performance.now());
  }

  /** Takes `e` out (it settled); a no-op when it is not in this list. */
  remove(e: DeadlineEntry): void {
    if (e.deadlineList !== this) return;
    e.deadlineList = undefined;
    const prev = e.prevDeadline;
    const next = e.nextDeadline;
    if (prev === undefined) this.head = next;
    else prev.nextDeadline = next;
    if (next === undefined) this.tail = prev;
    else next.prevDeadline = prev;
    e.prevDeadline = e.nextDeadline = undefined;
    this.size--;
    if (this.head === undefined && this.timer !== undefined) {
      this.timer.unref();
      this.timerIdle = true;
    }
  }

  // A head further out than a timer reaches gets a timer as long as one can be: firing early only
  // means arming again.
  private arm(at: number, now: number): void {
    const ms = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - now)));
    this.timer = setTimeout(this.onTimer, ms);
    this.timerAt = now + ms;
  }

  private fire(): void {
    this.timer = undefined;
    this.timerIdle = false;
    const now = performance.now();
    try {
      // Armed for a head that has settled since, or a little early by our clock: what is not due
      // yet waits for the next round.
      for (let e = this.head; e !== undefined && e.expiresAt <= now; e = this.head) {
        this.remove(e);
        e.expire();
      }
    } finally {
      // Even if an expiry threw: the entries after it still get their timer.
      if (this.head !== undefined && this.timer === undefined) this.arm(this.head.expiresAt, now);
    }
  }
}

/**
 * A few DeadlineLists, each entry in the first that takes it. Calls with a few different timeouts
 * (a server's callers, a client's methods) then each find a list they arrive in order in: with
 * one list, a server whose callers used 100 ms and 1 s timeouts gave a timer of their own to a
 * quarter of its requests. Deadlines in no order at all still overflow to their own timers.
 */
export class DeadlineLists {
  private readonly lists: DeadlineList[];

  constructor(count = 4) {
    this.lists = Array.from({ length: count }, () => new DeadlineList());
  }

  /** Adds `e` to the first list it is in order in; false if none takes it. */
  add(e: DeadlineEntry): boolean {
    const lists = this.lists;
    for (let i = 0; i < lists.length; i++) if (lists[i]!.add(e)) return true;
    return false;
  }

  /** Entries in all the lists (for tests). */
  get size(): number {
    let n = 0;
    for (const l of this.lists) n += l.size;
    return n;
  }
}
