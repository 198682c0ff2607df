import type { Endpoint } from './endpoint.js';

/**
 * A live set of endpoints (the field keeps its first name, `addresses`). Nodes join and leave at any time; subscribers get the whole new set
 * on every change (balancers diff it against what they have).
 */
export interface ServerSet {
  readonly addresses: readonly Endpoint[];
  /** Calls `listener` on every change (not with the current set); returns the unsubscribe. */
  subscribe(listener: (addresses: readonly Endpoint[]) => void): () => void;
  /**
   * For sets read from somewhere (ZooKeeper, DNS): resolves once the source answered the first
   * time. A balancer over a set that has one holds its first calls until then (bounded) rather
   * than failing them with "no node". Sets known at once leave it out.
   */
  ready?(): Promise<void>;
  close(): void;
}

/** A set that changes only when its owner says so (`tcp://` destinations, tests). */
export class StaticServerSet implements ServerSet {
  private current: readonly Endpoint[];
  private readonly listeners = new Set<(addresses: readonly Endpoint[]) => void>();

  constructor(addresses: readonly Endpoint[]) {
    this.current = [...addresses];
  }

  get addresses(): readonly Endpoint[] {
    return this.current;
  }

  subscribe(listener: (addresses: readonly Endpoint[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replaces the set and notifies subscribers. */
  update(addresses: readonly Endpoint[]): void {
    this.current = [...addresses];
    for (const l of [...this.listeners]) l(this.current);
  }

  close(): void {
    this.listeners.clear();
  }
}
