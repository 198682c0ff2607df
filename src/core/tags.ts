/**
 * Allocates small integer ids (Thrift seqids, Mux tags) with reuse: the most recently freed id
 * comes back first, so the id space stays small and the lookup table dense.
 *
 * Reuse is what makes abandoned calls dangerous: an id freed while its reply is still on the way
 * would route that late reply to the next call that gets the id. Callers must only `release` an id
 * once its reply arrived (or the connection is gone); an abandoned call keeps its id reserved.
 */
export class TagAllocator {
  private readonly free: number[] = [];
  private next: number;
  /** Ids currently handed out. */
  inUse = 0;

  constructor(
    private readonly first = 1,
    private readonly max = 0x7fffffff,
  ) {
    this.next = first;
  }

  /** A free id, or -1 when all `max - first + 1` are in use. */
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
