/**
 * Mux fragmentation (only Tdispatch/Rdispatch): a message's body is cut into frames of at most
 * the peer's `mux-framer` size; every frame but the last carries `tag | 0x800000`. Readers
 * reassemble per tag, and drop a partial message when its tag is discarded.
 *
 * Writers (FragmentWriter) interleave the fragments of different messages round-robin.
 *
 * Bounded: at most `maxPartials` messages in pieces at once, `maxMessageBytes` per whole message,
 * and the bytes held in pieces by all the sessions sharing a `ReassemblyBudget` (a server's
 * connections): without that last one a peer keeps 64 messages of 16 MiB - 1 unfinished, ~1 GiB
 * per connection. Past any of them the peer is hostile or broken and its session closes.
 */
import { FrameTooLargeError, OverloadedError, ProtocolError } from '../../core/errors.js';
import type { Connection } from '../../transport/index.js';
import { FRAGMENT_BIT, HEADER_BYTES, MAX_TAG, MuxType } from './types.js';

interface Partial {
  readonly code: number;
  readonly chunks: Buffer[];
  bytes: number;
}

/**
 * Bytes held in unfinished fragmented messages, shared by the reassemblers of many sessions. A
 * session that closed gives its bytes back when the budget is next short (no close hook needed).
 */
export class ReassemblyBudget {
  used = 0;
  private readonly holders = new Set<Reassembler>();

  constructor(readonly limit: number) {}

  take(r: Reassembler, n: number): void {
    this.used += n;
    this.holders.add(r);
    if (this.used <= this.limit) return;
    for (const h of this.holders) if (h.isDead()) h.clear();
    if (this.used > this.limit) throw new OverloadedError(`unfinished fragmented mux messages hold ${this.used} bytes (budget ${this.limit})`);
  }

  give(r: Reassembler, n: number, empty: boolean): void {
    this.used -= n;
    if (empty) this.holders.delete(r);
  }
}

export class Reassembler {
  private readonly partials = new Map<number, Partial>();
  /** Bytes in `partials`. */
  private held = 0;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly maxPartials: number,
    private readonly budget: ReassemblyBudget = new ReassemblyBudget(Infinity),
    /** True once the session is gone (its bytes may be given back). */
    readonly isDead: () => boolean = () => false,
  ) {}

  /** Bytes held in unfinished messages. */
  get bytes(): number {
    return this.held;
  }

  /** Forgets every unfinished message (the session closed). */
  clear(): void {
    const n = this.held;
    this.partials.clear();
    this.held = 0;
    this.budget.give(this, n, true);
  }

  /** Messages in pieces now. */
  get pending(): number {
    return this.partials.size;
  }

  /**
   * Feeds one message as read. Returns the whole message when `message` is whole or completes a
   * fragmented one (header with the plain tag, then the body), or undefined while pieces are
   * still due.
   */
  accept(message: Buffer): Buffer | undefined {
    const more = (message[1]! & 0x80) !== 0;
    if (!more && this.partials.size === 0) return message; // the common case: one frame, no table
    const code = message.readInt8(0);
    const tag = message.readUIntBE(1, 3) & MAX_TAG;
    const p = this.partials.get(tag);
    if (more) {
      if (code !== MuxType.Tdispatch && code !== MuxType.Rdispatch) throw new ProtocolError(`mux message type ${code} cannot be fragmented`);
      const chunk = message.subarray(HEADER_BYTES);
      if (p === undefined) {
        if (this.partials.size >= this.maxPartials) throw new ProtocolError(`more than ${this.maxPartials} fragmented mux messages in progress`);
        const fresh: Partial = { code, chunks: [], bytes: 0 };
        this.partials.set(tag, fresh);
        this.add(fresh, chunk);
      } else {
        if (p.code !== code) throw new ProtocolError(`fragment of type ${code} continues a type ${p.code} message on tag ${tag}`);
        this.add(p, chunk);
      }
      return undefined;
    }
    if (p === undefined) return message;
    if (p.code !== code) throw new ProtocolError(`fragment of type ${code} ends a type ${p.code} message on tag ${tag}`);
    this.add(p, message.subarray(HEADER_BYTES));
    this.release(tag, p);
    const whole = Buffer.allocUnsafe(HEADER_BYTES + p.bytes);
    message.copy(whole, 0, 0, HEADER_BYTES);
    let at = HEADER_BYTES;
    for (const c of p.chunks) at += c.copy(whole, at);
    return whole;
  }

  /** Forgets the pieces of `tag` (its call was discarded). */
  drop(tag: number): void {
    const p = this.partials.get(tag);
    if (p !== undefined) this.release(tag, p);
  }

  private add(p: Partial, chunk: Buffer): void {
    p.bytes += chunk.length;
    if (p.bytes > this.maxMessageBytes) throw new FrameTooLargeError(p.bytes, this.maxMessageBytes);
    // A small view of a big read buffer would keep all of it: copy it, so what is held is what is counted.
    p.chunks.push(chunk.length * 4 < chunk.buffer.byteLength ? Buffer.from(chunk) : chunk);
    this.held += chunk.length;
    this.budget.take(this, chunk.length);
  }

  private release(tag: number, p: Partial): void {
    this.partials.delete(tag);
    this.held -= p.bytes;
    this.budget.give(this, p.bytes, this.partials.size === 0);
  }
}

interface Outgoing {
  readonly code: number;
  readonly tag: number;
  /** The message's body (after `type tag`). */
  readonly body: Buffer;
  /** Next body byte to send. */
  at: number;
  /** Runs once the last fragment is written (a Tdiscarded that must follow it). */
  after: (() => void) | undefined;
}

/**
 * Sends messages larger than the peer's `mux-framer` in fragments, interleaved: the first
 * fragment goes out at once, then one fragment of every message in progress per event-loop turn
 * (round-robin), so messages written meanwhile (small calls, pings) go out between them instead of
 * waiting behind a large one. While the socket pushes back, rounds wait for it.
 */
export class FragmentWriter {
  private readonly queue: Outgoing[] = [];
  private scheduled = false;
  private readonly roundCallback = (): void => this.round();

  constructor(
    private readonly conn: Connection,
    private readonly maxFrame: number,
  ) {}

  /** Messages still going out. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Sends a `code` message on `tag` with `body` (owned by the writer from now on: no copy is
   * made of a large body to put a header before it). Throws like Connection.endMessage for the
   * first fragment.
   */
  send(code: number, tag: number, body: Buffer): void {
    const o: Outgoing = { code, tag, body, at: 0, after: undefined };
    if (this.writeOne(o)) return;
    this.queue.push(o);
    this.schedule();
  }

  /** Runs `fn` after the last fragment of `tag`'s message; false (and `fn` not kept) when none is going out. */
  afterTag(tag: number, fn: () => void): boolean {
    for (const o of this.queue) {
      if (o.tag === tag) {
        o.after = fn;
        return true;
      }
    }
    return false;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.roundCallback);
  }

  private round(): void {
    this.scheduled = false;
    if (this.conn.closing) {
      this.queue.length = 0;
      return;
    }
    if (!this.conn.writableNeedsDrain) {
      const q = this.queue;
      let kept = 0;
      for (let i = 0; i < q.length; i++) {
        const o = q[i]!;
        let done: boolean;
        try {
          done = this.writeOne(o);
        } catch {
          q.length = 0; // the connection refused (closing, overloaded): its own error ends it
          return;
        }
        if (done) o.after?.();
        else q[kept++] = o;
      }
      q.length = kept;
    }
    if (this.queue.length > 0) this.schedule();
  }

  /** Writes the next fragment of `o`; true when it was the last. */
  private writeOne(o: Outgoing): boolean {
    const body = o.body;
    const n = Math.min(Math.max(1, this.maxFrame - HEADER_BYTES), body.length - o.at);
    const last = o.at + n >= body.length;
    const conn = this.conn;
    const mark = conn.beginMessage();
    const w = conn.writer;
    w.ensure(HEADER_BYTES + n);
    const t = last ? o.tag : o.tag | FRAGMENT_BIT;
    w.buf[w.pos] = o.code & 0xff;
    w.buf[w.pos + 1] = (t >>> 16) & 0xff;
    w.buf[w.pos + 2] = (t >>> 8) & 0xff;
    w.buf[w.pos + 3] = t & 0xff;
    w.pos += HEADER_BYTES;
    body.copy(w.buf, w.pos, o.at, o.at + n);
    w.pos += n;
    conn.endMessage(mark);
    o.at += n;
    return last;
  }
}
