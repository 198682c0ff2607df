/**
 * The server's channel table keys: a channel is the peer's identity and the request's id (str and
 * bin apart). Ids shaped as Python's and ours (8 hex digits of a counter, then 24 bytes fixed per
 * client) become numbers, the peer's base plus the counter: no string is built and hashed per call
 * (a string key cost ~250 ns per call in Map churn, a number ~60). Other ids keep string keys.
 */
import { hexSeq, idKey, idSeq, type ChannelRef, type ReplyHeads } from './events.js';

/** One peer (routing identity) of the socket. */
export interface PeerIds {
  readonly text: string;
  /** Its numbers: base + counter; -1 when numbers ran out (string keys only). */
  readonly base: number;
  /** The fixed 24 bytes of the first hex-shaped id it sent: its ids with them are numbered. */
  tail: Buffer | undefined;
  /** Its open channels: a peer without any may be forgotten. */
  open: number;
  /** The server's reply headers for this peer's numbered channels (made with the tail, by the server). */
  heads: ReplyHeads | undefined;
}

/** Peers remembered without open channels before the idle ones are forgotten. */
const MAX_PEERS = 1024;
/** Bases up to 2^20 × 2^32: every key stays a safe integer. */
const MAX_BASES = 2 ** 20;
const TWO_32 = 2 ** 32;

export class ChannelKeys {
  private readonly peers = new Map<string, PeerIds>();
  private nextBase = 1;
  private lastIdentity: Buffer | undefined = undefined;
  private last: PeerIds | undefined = undefined;

  /** The peer of an identity frame (our ROUTER hands up the same buffer for each message of a peer). */
  peer(identity: Buffer): PeerIds {
    if (identity === this.lastIdentity) return this.last!;
    const text = identity.toString('latin1');
    let p = this.peers.get(text);
    if (p === undefined) {
      if (this.peers.size >= MAX_PEERS) this.sweep();
      p = { text, base: this.nextBase < MAX_BASES ? this.nextBase++ * TWO_32 : -1, tail: undefined, open: 0, heads: undefined };
      this.peers.set(text, p);
    }
    this.lastIdentity = identity;
    this.last = p;
    return p;
  }

  /**
   * The counter of the 32 id bytes at `buf[at]` when the peer's ids are numbered and these are
   * hex-shaped with its tail (the first such id fixes the tail), else -1.
   */
  seqAt(p: PeerIds, buf: Buffer, at: number): number {
    if (p.base < 0) return -1;
    const seq = hexSeq(buf, at, p.tail);
    if (seq >= 0 && p.tail === undefined) p.tail = Buffer.from(buf.subarray(at + 8, at + 32));
    return seq;
  }

  /** The key of channel `id` (a number: a counter `seqAt` gave for this peer). */
  key(p: PeerIds, id: ChannelRef): string | number {
    if (typeof id === 'number') return p.base + id;
    if (p.base >= 0) {
      const seq = idSeq(id, p.tail);
      if (seq >= 0) {
        // The first hex-shaped id fixes the peer's tail; ids with another tail get strings.
        if (p.tail === undefined) p.tail = Buffer.from((id as Uint8Array).subarray(8));
        return p.base + seq;
      }
    }
    return `${p.text}|${idKey(id)}`;
  }

  /** Forgets the peers without open channels (their next message makes them anew). */
  private sweep(): void {
    for (const [text, p] of this.peers) if (p.open === 0) this.peers.delete(text);
    if (this.last !== undefined && !this.peers.has(this.last.text)) {
      this.last = undefined;
      this.lastIdentity = undefined;
    }
  }
}
