/**
 * The client's open channels by the sequence number of their id. Numbers are handed out in
 * order, so a ring of slots (seq mod 1024) holds them without hashing; a channel still open when
 * its slot comes round again (a long stream) moves to an overflow Map. A Map alone, emptied and
 * filled again as calls come and go one at a time, reallocated its table both ways (~1 µs a call).
 */
const SLOTS = 1024;

export class SeqTable<C extends { readonly seq: number }> {
  private readonly slots: (C | undefined)[] = new Array<C | undefined>(SLOTS).fill(undefined);
  private readonly overflow = new Map<number, C>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds `ch` (its seq not open already: numbers are unique until they wrap at 2^32). */
  set(ch: C): void {
    const i = ch.seq & (SLOTS - 1);
    const old = this.slots[i];
    if (old !== undefined) this.overflow.set(old.seq, old);
    this.slots[i] = ch;
    this.count++;
  }

  get(seq: number): C | undefined {
    if (seq < 0) return undefined;
    const ch = this.slots[seq & (SLOTS - 1)];
    if (ch !== undefined && ch.seq === seq) return ch;
    return this.overflow.size === 0 ? undefined : this.overflow.get(seq);
  }

  /** Removes `ch` if it is in the table; false if not. */
  delete(ch: C): boolean {
    const i = ch.seq & (SLOTS - 1);
    if (this.slots[i] === ch) this.slots[i] = undefined;
    else if (this.overflow.get(ch.seq) === ch) this.overflow.delete(ch.seq);
    else return false;
    this.count--;
    return true;
  }

  /** A snapshot of the open channels (the heartbeat's tick, shutdown). */
  values(): C[] {
    const out: C[] = [];
    if (this.count === 0) return out;
    for (const ch of this.slots) if (ch !== undefined) out.push(ch);
    for (const ch of this.overflow.values()) out.push(ch);
    return out;
  }
}
