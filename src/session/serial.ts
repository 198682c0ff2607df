import type { Connection } from '../transport/index.js';
import { DEFAULT_MAX_IN_FLIGHT, SessionBase, type SessionOptions } from './base.js';
import { UNTAGGED, type SessionCodec } from './codec.js';
import { Slot } from './slot.js';

const INITIAL_RING = 16;

/**
 * One connection whose replies come back in request order, with no tag (Redis, HTTP/1.1
 * pipelining): every answer belongs to the oldest call still owed one. An abandoned call keeps
 * its place in the queue; its late answer is read and dropped when it comes, so the calls behind
 * it still get their own.
 */
export class SerialSession<Req, Rep> extends SessionBase<Req, Rep> {
  /** A ring of reusable slots, its size a power of two; calls sit from `head`, `count` of them. */
  private ring: Slot<Req, Rep>[] = [];
  private head = 0;
  private count = 0;
  private readonly maxInFlight: number;

  constructor(conn: Connection, codec: SessionCodec<Req, Rep>, options: SessionOptions = {}) {
    super(conn, codec, options);
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  }

  protected get inFlight(): number {
    return this.count;
  }

  protected reserve(): Slot<Req, Rep> | undefined {
    if (this.count >= this.maxInFlight) return undefined;
    if (this.count === this.ring.length) this.grow();
    const ring = this.ring;
    const slot = ring[(this.head + this.count) & (ring.length - 1)]!;
    this.count++;
    return slot;
  }

  protected unreserve(): void {
    this.count--; // the newest place: nothing was queued after it while its write ran
  }

  protected find(): Slot<Req, Rep> | undefined {
    return this.count === 0 ? undefined : this.ring[this.head];
  }

  protected take(): Slot<Req, Rep> | undefined {
    if (this.count === 0) return undefined;
    const ring = this.ring;
    const slot = ring[this.head]!;
    this.head = (this.head + 1) & (ring.length - 1);
    this.count--;
    return slot;
  }

  protected takeAll(): Slot<Req, Rep>[] {
    const taken: Slot<Req, Rep>[] = [];
    while (this.count > 0) taken.push(this.take()!);
    return taken;
  }

  protected unmatched(): string {
    return 'reply that no call is waiting for';
  }

  /** Doubles the ring, queue order kept; slots move, their cancel closures go with them. */
  private grow(): void {
    const old = this.ring;
    const size = old.length === 0 ? INITIAL_RING : old.length * 2;
    const ring: Slot<Req, Rep>[] = new Array(size);
    for (let i = 0; i < old.length; i++) ring[i] = old[(this.head + i) & (old.length - 1)]!;
    for (let i = old.length; i < size; i++) ring[i] = this.initSlot(new Slot(UNTAGGED));
    this.ring = ring;
    this.head = 0;
  }
}
