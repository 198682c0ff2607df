/**
 * Cancellation that many calls follow, without an AbortSignal per call or a listener per call.
 *
 * - `watchAbort(signal, w)`: one 'abort' listener per AbortSignal however many calls watch it. A
 *   signal is often shared (a request's signal handed to every call made for it, a consumer's
 *   signal seen by each poller); with a listener per call Node warns of a leak past ten
 *   (`MaxListenersExceededWarning`) and every add and remove walks the whole listener list.
 * - `CancelSource`: what a request being served offers the calls its handler makes, so they are
 *   cancelled with it (the caller gave up, disconnected, the server stopped) without an
 *   AbortSignal: making one cost ~25 µs per request in a handler that calls another service
 *   (bench/nested.ts), more than the rest of that request.
 */

/** Told once when what it watches is cancelled (unless removed first). Must not throw. */
export interface AbortWatcher {
  aborted(reason: unknown): void;
}

/** Something calls can be cancelled with: a request being served (server/context.ts). */
export interface CancelSource {
  /** Why it was cancelled, or undefined while it is not. */
  readonly cancelReason: unknown;
  /** `w.aborted(reason)` runs when it is cancelled (at once if it already is). */
  watchCancel(w: AbortWatcher): void;
  /** Stops telling `w` (a no-op if it was not watching). */
  unwatchCancel(w: AbortWatcher): void;
}

/** Watchers told once, in the order they came: the first inline (most have one), a Set past it. */
export class WatcherSet {
  private one: AbortWatcher | undefined = undefined;
  private more: Set<AbortWatcher> | undefined = undefined;

  get empty(): boolean {
    return this.one === undefined && (this.more === undefined || this.more.size === 0);
  }

  add(w: AbortWatcher): void {
    if (this.empty) this.one = w;
    else (this.more ??= new Set()).add(w);
  }

  delete(w: AbortWatcher): void {
    if (this.one === w) this.one = undefined;
    else this.more?.delete(w);
  }

  /** Tells every watcher once and forgets them; one that throws does not stop the others. */
  tellAll(reason: unknown): void {
    const one = this.one;
    this.one = undefined;
    if (one !== undefined) tell(one, reason);
    // A watcher removing itself or another while we go is fine: Set iteration allows it, and
    // one removed before its turn is not told.
    const more = this.more;
    if (more !== undefined) for (const w of more) tell(w, reason);
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

/** The watchers of one signal, behind the one listener that tells them. */
class SignalWatchers extends WatcherSet {
  constructor(private readonly signal: AbortSignal) {
    super();
    // The object itself is the listener (its handleEvent): no closure per signal.
    signal.addEventListener('abort', this, { once: true });
  }

  override delete(w: AbortWatcher): void {
    super.delete(w);
    // The last one gone: leave the signal as we found it (a signal per call, the common case,
    // is then collected without a listener to walk).
    if (this.empty) {
      this.signal.removeEventListener('abort', this);
      if (Object.isExtensible(this.signal)) (this.signal as Watched)[WATCHERS] = undefined;
      else sealed.delete(this.signal);
    }
  }

  handleEvent(): void {
    this.tellAll(this.signal.reason);
  }
}

// Kept on the signal itself under a private symbol: a WeakMap entry per signal costs the garbage
// collector more (an ephemeron per call when every call has its own signal).
const WATCHERS = Symbol('scales.abortWatchers');
type Watched = AbortSignal & { [WATCHERS]?: SignalWatchers | undefined };

// A signal that takes no new property (Object.preventExtensions by its owner) keeps its watchers here.
const sealed = new WeakMap<AbortSignal, SignalWatchers>();

function watchersOf(signal: AbortSignal): SignalWatchers | undefined {
  return (signal as Watched)[WATCHERS] ?? sealed.get(signal);
}

/** `watcher.aborted(reason)` runs when `signal` aborts. The signal must not have aborted yet (check `signal.aborted` first). */
export function watchAbort(signal: AbortSignal, watcher: AbortWatcher): void {
  let w = watchersOf(signal);
  if (w === undefined) {
    w = new SignalWatchers(signal);
    if (Object.isExtensible(signal)) (signal as Watched)[WATCHERS] = w;
    else sealed.set(signal, w);
  }
  w.add(watcher);
}

/** Stops telling `watcher` (a no-op if it was not watching or the signal already fired). */
export function unwatchAbort(signal: AbortSignal, watcher: AbortWatcher): void {
  watchersOf(signal)?.delete(watcher);
}
