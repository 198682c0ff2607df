/**
 * Allocators of small integer ids (Thrift seqids, Mux tags) with reuse, so the id space stays
 * small and the lookup table dense.
 *
 * Reuse is what makes abandoned calls dangerous: an id freed while its reply is still on the way
 * would route that late reply to the next call that gets the id. Callers must only `release` an id
 * once its reply arrived (or the connection is gone); an abandoned call keeps its id reserved.
 */
export interface Tags {
  /** Ids currently handed out. */
  readonly inUse: number;
  /** A free id, or -1 when all are in use. */
  acquire(): number;
  release(tag: number): void;
}

/** Which ids a protocol uses, and which free one it hands out next. */
export interface TagSpace {
  readonly first: number;
  readonly last: number;
  /**
   * `recent`: the most recently freed id first (a stack: the cheapest; Thrift does not care).
   * `lowest`: the smallest free id first (what Mux peers expect: one call at a time reuses tag 2).
   */
  readonly order: 'recent' | 'lowest';
}

/** The allocator for `space`, capped at `maxInUse` ids at once. */
export function makeTags(space: TagSpace, maxInUse = Infinity): Tags {
  const last = Math.min(space.last, space.first + maxInUse - 1);
  return space.order === 'lowest' ? new LowestTagAllocator(space.first, last) : new TagAllocator(space.first, last);
}

/** The most recently freed id comes back first: a push and a pop. */
export class TagAllocator implements Tags {
  private readonly free: number[] = [];
  private next: number;
  inUse = 0;

  constructor(
    first = 1,
    private readonly max = 0x7fffffff,
  ) {
    this.next = first;
  }

  acquire(): number {
    this.inUse++;
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.next > this.max) {
      this.inUse--;
      return -1;
    }
    return this.next++;
  }

  release(tag: number): void {
    this.inUse--;
    this.free.push(tag);
  }
}

/**
 * The smallest free id first. Ids below `next` that were freed sit in a binary min-heap, so the
 * smallest free id is its root (or `next` when it is empty): O(log n) per call in the ids freed
 * out of order, O(1) in the common case of one call at a time. When every id is back, the heap
 * and `next` reset, so a burst leaves nothing behind.
 */
export class LowestTagAllocator implements Tags {
  private readonly heap: number[] = [];
  private next: number;
  inUse = 0;

  constructor(
    private readonly first = 1,
    private readonly max = 0x7fffffff,
  ) {
    this.next = first;
  }

  acquire(): number {
    const h = this.heap;
    if (h.length === 0) {
      if (this.next > this.max) return -1;
      this.inUse++;
      return this.next++;
    }
    this.inUse++;
    const top = h[0]!;
    const lastLeaf = h.pop()!;
    if (h.length > 0) siftDown(h, lastLeaf);
    return top;
  }

  release(tag: number): void {
    if (--this.inUse === 0) {
      this.heap.length = 0;
      this.next = this.first;
      return;
    }
    const h = this.heap;
    let i = h.length;
    h.push(tag);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent]!;
      if (p <= tag) break;
      h[i] = p;
      i = parent;
    }
    h[i] = tag;
  }
}

/** Puts `v` at the root of `h` and moves it down to its place. */
function siftDown(h: number[], v: number): void {
  const n = h.length;
  let i = 0;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    const right = c + 1;
    if (right < n && h[right]! < h[c]!) c = right;
    if (h[c]! >= v) break;
    h[i] = h[c]!;
    i = c;
  }
  h[i] = v;
}
