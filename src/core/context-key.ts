/**
 * Typed per-call values (connect-es's `createContextKey`, Finagle's `Contexts.local`/`broadcast`):
 * a fact one layer (or the caller) records for a call and another layer reads, under a key that
 * names its type, instead of a field of `CallContext` that only two layers understand.
 *
 * A key may say how it crosses the wire (`wire`): protocols that carry contexts with each call
 * (Mux contexts, ZeroRPC headers) send the keys that have one and decode the ones they receive,
 * so a value set by a caller reaches the server's handler and the calls it makes in turn.
 */
// Keys are numbered as they are made: a key's id indexes a context's value slots.
let keysMade = 0;

/** How a key's value is written to and read from a protocol's per-call contexts. */
export interface WireCodec<T> {
  /** The context's name on the wire (Mux: e.g. `com.twitter.finagle.Retries`). */
  readonly name: string;
  encode(value: T): Buffer;
  /** Throws on a malformed value: the receiving protocol drops that context, not the call. */
  decode(bytes: Buffer): T;
  /**
   * `decode` of the `length` bytes at `at` in `buf`, read in place, for a codec whose value keeps
   * no reference to the bytes (`buf` is a connection's whole read: a view kept in a value would
   * hold all of it in memory). A protocol then neither copies them nor makes a view. Optional;
   * without it, `decode` gets a copy of its own.
   */
  decodeAt?(buf: Buffer, at: number, length: number): T;
}

export class ContextKey<T> {
  /** Index into a context's value slots. Make keys once (at module load), not per call: ids only grow. */
  readonly id: number;

  constructor(
    readonly name: string,
    readonly defaultValue: T,
    readonly wire?: WireCodec<T>,
  ) {
    this.id = keysMade++;
  }
}

/** `const UserId = createContextKey<string | undefined>('user-id', undefined)`. */
export function createContextKey<T>(name: string, defaultValue: T, wire?: WireCodec<T>): ContextKey<T> {
  return new ContextKey(name, defaultValue, wire);
}

/**
 * The value slots of one call. Allocated on the first `set`, so a call that carries no values
 * costs nothing; reads of an unset key return its default.
 */
export class ContextValues {
  /** The key set at each id (undefined: unset), and its value. */
  private keys: (ContextKey<unknown> | undefined)[] | undefined = undefined;
  private slots: unknown[] | undefined = undefined;

  get<T>(key: ContextKey<T>): T {
    const k = this.keys;
    return k !== undefined && k[key.id] !== undefined ? (this.slots![key.id] as T) : key.defaultValue;
  }

  set<T>(key: ContextKey<T>, value: T): void {
    if (this.keys === undefined) {
      this.keys = [];
      this.slots = [];
    }
    this.keys[key.id] = key as ContextKey<unknown>;
    this.slots![key.id] = value;
  }

  /** The keys set, with their values (for propagation). */
  *entries(): IterableIterator<[ContextKey<unknown>, unknown]> {
    const k = this.keys;
    if (k === undefined) return;
    for (let id = 0; id < k.length; id++) {
      const key = k[id];
      if (key !== undefined) yield [key, this.slots![id]];
    }
  }

  /** Copies every value set here into `into` (a nested call inheriting the request's values). */
  copyTo(into: ContextValues): void {
    for (let id = 0, n = this.slotCount; id < n; id++) {
      const key = this.keyAt(id);
      if (key !== undefined) into.set(key, this.slots![id]);
    }
  }

  /**
   * For hot loops, instead of `entries()` (a generator and an array per value): ids below this
   * may hold a key; `keyAt(id)` is it (or undefined), `valueAt(id)` its value.
   */
  get slotCount(): number {
    return this.keys === undefined ? 0 : this.keys.length;
  }

  keyAt(id: number): ContextKey<unknown> | undefined {
    return this.keys![id];
  }

  valueAt(id: number): unknown {
    return this.slots![id];
  }
}

/**
 * The typed-values part of a per-call context, shared by the client's CallContext and the
 * server's request context: values are allocated on the first `set`.
 */
export abstract class CarriesValues {
  protected vals: ContextValues | undefined = undefined;

  /** The value of `key` for this call (its default when unset). */
  get<T>(key: ContextKey<T>): T {
    return this.vals === undefined ? key.defaultValue : this.vals.get(key);
  }

  set<T>(key: ContextKey<T>, value: T): void {
    (this.vals ??= new ContextValues()).set(key, value);
  }

  /** Sets every value set in `from` (a call inheriting the values of the request it serves). */
  inherit(from: ContextValues): void {
    from.copyTo((this.vals ??= new ContextValues()));
  }

  /** The values set on (or received with) this call, or undefined when none were. */
  get values(): ContextValues | undefined {
    return this.vals;
  }
}
