import { makeTags, type Tags } from '../core/tags.js';
import type { Connection } from '../transport/index.js';
import { DEFAULT_MAX_IN_FLIGHT, SessionBase, type SessionOptions } from './base.js';
import type { MultiplexedCodec } from './codec.js';
import { Slot } from './slot.js';

/**
 * One connection carrying many calls at once, each under its own tag, answered in any order
 * (Thrift seqids, Mux tags). Tags come from the codec's tag space in its order; a tag is freed
 * only when the peer's answer for it is read or the connection closes, never when a caller gives
 * up, so a late answer can never reach the next call that gets the tag.
 */
export class MultiplexedSession<Req, Rep> extends SessionBase<Req, Rep> {
  private readonly tags: Tags;
  /** By tag; a slot is made the first time its tag is used and reused after. */
  private readonly slots: (Slot<Req, Rep> | undefined)[] = [];

  constructor(conn: Connection, codec: MultiplexedCodec<Req, Rep>, options: SessionOptions = {}) {
    super(conn, codec, options);
    this.tags = makeTags(codec.tags, options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
  }

  protected get inFlight(): number {
    return this.tags.inUse;
  }

  protected reserve(): Slot<Req, Rep> | undefined {
    const tag = this.tags.acquire();
    if (tag < 0) return undefined;
    return this.slots[tag] ?? (this.slots[tag] = this.initSlot(new Slot(tag)));
  }

  protected unreserve(slot: Slot<Req, Rep>): void {
    this.tags.release(slot.tag);
  }

  protected find(tag: number): Slot<Req, Rep> | undefined {
    const slot = this.slots[tag];
    return slot?.busy ? slot : undefined;
  }

  protected take(tag: number): Slot<Req, Rep> | undefined {
    const slot = this.slots[tag];
    if (slot === undefined || !slot.busy) return undefined;
    this.tags.release(tag);
    return slot;
  }

  protected takeAll(): Slot<Req, Rep>[] {
    const taken: Slot<Req, Rep>[] = [];
    for (const slot of this.slots) {
      if (slot === undefined || !slot.busy) continue;
      this.tags.release(slot.tag);
      taken.push(slot);
    }
    return taken;
  }

  protected unmatched(tag: number): string {
    return `reply for tag ${tag} that no call is waiting for`;
  }
}
