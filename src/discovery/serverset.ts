import type { Address } from './uri.js';

/**
 * A live set of addresses. Nodes join and leave at any time; subscribers get the whole new set
 * on every change (balancers diff it against what they have).
 */
export interface ServerSet {
  readonly addresses: readonly Address[];
  /** Calls `listener` on every change (not with the current set); returns the unsubscribe. */
  subscribe(listener: (addresses: readonly Address[]) => void): () => void;
  close(): void;
}

/** A set that changes only when its owner says so (`tcp://` destinations, tests). */
export class StaticServerSet implements ServerSet {
  private current: readonly Address[];
  private readonly listeners = new Set<(addresses: readonly Address[]) => void>();

  constructor(addresses: readonly Address[]) {
    this.current = [...addresses];
  }

  get addresses(): readonly Address[] {
    return this.current;
  }

  subscribe(listener: (addresses: readonly Address[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replaces the set and notifies subscribers. */
  update(addresses: readonly Address[]): void {
    this.current = [...addresses];
    for (const l of [...this.listeners]) l(this.current);
  }

  close(): void {
    this.listeners.clear();
  }
}
