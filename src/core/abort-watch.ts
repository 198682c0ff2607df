/**
 * One 'abort' listener per AbortSignal, however many calls watch it.
 *
 * A signal is often shared: a request's signal handed to every call made on its behalf, a
 * consumer's signal seen by each of its pollers. With one listener per call in flight, Node warns
 * of a leak past ten (`MaxListenersExceededWarning`) though nothing leaks, and every add and
 * remove walks the signal's whole listener list. Here the signal gets one listener, on its first
 * watcher, and the watchers sit in a Set: adding and removing one is O(1) and never warns.
 */

/** Told once when the signal it watches aborts (unless removed first). Must not throw. */
export interface AbortWatcher {
  aborted(reason: unknown): void;
}

/** The watchers of one signal and the one listener that tells them. */
class Watchers {
  /** The first watcher: most signals belong to one call, and then no Set is made. */
  one: AbortWatcher | undefined = undefined;
  more: Set<AbortWatcher> | undefined = undefined;

  constructor(private readonly signal: AbortSignal) {
    // The object itself is the listener (its handleEvent): no closure per signal.
    signal.addEventListener('abort', this, { once: true });
  }

  add(w: AbortWatcher): void {
    if (this.one === undefined && this.more === undefined) this.one = w;
    else (this.more ??= new Set()).add(w);
  }

  delete(w: AbortWatcher): void {
    if (this.one === w) this.one = undefined;
    else this.more?.delete(w);
    // The last one gone: leave the signal as we found it (a signal per call, the common case,
    // is then collected without a listener to walk).
    if (this.one === undefined && (this.more === undefined || this.more.size === 0)) {
      this.signal.removeEventListener('abort', this);
      (this.signal as Watched)[WATCHERS] = undefined;
    }
  }

  handleEvent(): void {
    const reason: unknown = this.signal.reason;
    const one = this.one;
    this.one = undefined;
    if (one !== undefined) tell(one, reason);
    // A watcher removing itself or another while we go is fine: Set iteration allows it.
    if (this.more !== undefined) for (const w of this.more) tell(w, reason);
    this.more = undefined;
  }
}

function tell(w: AbortWatcher, reason: unknown): void {
  try {
    w.aborted(reason);
  } catch (err) {
    // As an EventTarget listener that throws: reported, and the other watchers still hear.
    process.nextTick(() => {
      throw err;
    });
  }
}

// Kept on the signal itself under a private symbol: a WeakMap entry per signal costs the garbage
// collector more (an ephemeron per call when every call has its own signal).
const WATCHERS = Symbol('scales.abortWatchers');
type Watched = AbortSignal & { [WATCHERS]?: Watchers };

/** `watcher.aborted(reason)` runs when `signal` aborts. The signal must not have aborted yet (check `signal.aborted` first). */
export function watchAbort(signal: AbortSignal, watcher: AbortWatcher): void {
  const s = signal as Watched;
  (s[WATCHERS] ??= new Watchers(signal)).add(watcher);
}

/** Stops telling `watcher` (a no-op if it was not watching or the signal already fired). */
export function unwatchAbort(signal: AbortSignal, watcher: AbortWatcher): void {
  (signal as Watched)[WATCHERS]?.delete(watcher);
}
