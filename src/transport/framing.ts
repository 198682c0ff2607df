/**
 * Read-side framing: turns socket chunks into whole messages.
 *
 * Every message handed to the sink is a view of a buffer the decoder never writes again (socket
 * chunks are fresh per read; accumulation buffers are abandoned once a message is handed out of
 * them), so callers may keep messages as long as they like. A kept small message does keep its
 * whole chunk alive; copy it if that matters.
 */
import { BufferUnderflow } from '../core/bytes.js';
import { performance } from '../core/clock.js';
import { FrameTooLargeError, ProtocolError, ScalesError } from '../core/errors.js';

/**
 * Finds message boundaries in an unframed stream: returns the byte length of the first complete
 * message in buf[start, end), or -1 if more bytes are needed. Throwing BufferUnderflow also means
 * "need more"; throwing a ScalesError (ProtocolError) closes the connection.
 */
export type MessageMeasurer = (buf: Buffer, start: number, end: number) => number;

/** `length-prefixed`: u32 big-endian length, then that many payload bytes. `measured`: no framing on the wire. */
export type Framing = { kind: 'length-prefixed' } | { kind: 'measured'; measure: MessageMeasurer };

export interface FrameSink {
  deliver(message: Buffer): void;
  /** The same, as a range of a buffer (the decoder makes no view); length-prefixed decoders call it instead when present. */
  deliverAt?(buf: Buffer, start: number, end: number): void;
}

export interface FrameDecoder {
  /** While true no message is delivered; bytes stay buffered until `drain()`. */
  paused: boolean;
  /** Bytes received but not yet delivered. */
  readonly pendingBytes: number;
  /**
   * Memory held per pending byte, at most, for a budget to charge: 1 for length-prefixed frames
   * (the chunks as they came), 2 for measured ones (an accumulator with room to grow, and the
   * ones it outgrew until they are collected).
   */
  readonly memoryFactor: number;
  /** Feeds a chunk; delivers every complete message unless paused. Throws ScalesError on bad input. */
  push(chunk: Buffer): void;
  /** Delivers complete messages already buffered (after a pause, or once the stream went quiet). */
  drain(): void;
  /**
   * -1, or: a message end was not looked for on the last chunk (measured framing puts costly
   * measures off while a big message trickles in); call `drain()` if no chunk arrives within
   * this many ms, since the message may be complete already.
   */
  readonly drainAfterMs: number;
}

/**
 * What the first bytes of a stream say about a peer that speaks something else, for the error
 * that closes its connection: an HTTP request or reply read as a frame length is ~1.2 GB
 * ("HTTP" = 1213486160), a TLS ClientHello starts 0x16 0x03, an unframed Thrift message starts
 * with its version word (binary 0x8001, compact 0x82). Undefined when nothing is recognised.
 */
export function mismatchHint(head: Buffer, framed: boolean): string | undefined {
  if (head.length < 2) return undefined;
  const b0 = head[0]!;
  const b1 = head[1]!;
  if (b0 === 0x16 && b1 === 0x03) return 'the peer speaks TLS (a TLS client or server on a plaintext port?)';
  const text = head.subarray(0, 8).toString('latin1');
  if (/^(HTTP\/|GET |POST|PUT |HEAD |DELETE|OPTIONS|PATCH|CONNECT|PRI \*)/.test(text)) return 'the peer sent HTTP (an HTTP client or server on this port?)';
  if (framed) {
    if (b0 === 0x80 && b1 === 0x01) return 'the peer sent an unframed binary Thrift message (its version word 0x8001 read as a length): it uses the buffered transport, this side framed';
    if (b0 === 0x82 && (b1 & 0x1f) === 1) return 'the peer sent an unframed compact Thrift message: it uses the buffered transport and the compact protocol, this side framed';
    return undefined;
  }
  const framedPeer = framedPeerHint(head);
  if (framedPeer !== undefined) return framedPeer;
  if (b0 === 0x82) return 'the peer speaks the compact protocol (first byte 0x82), this side binary';
  if (b0 === 0x80 && b1 === 0x01) return 'the peer speaks the binary protocol (version 0x8001), this side compact';
  return undefined;
}

/**
 * An unframed reader sees a framed Thrift message: a small length, then a message header. An
 * unframed reader would otherwise take the length for a method name's (non-strict binary) and
 * wait for bytes that never come. 0x80 and 0x82 cannot begin a UTF-8 method name.
 */
function framedPeerHint(head: Buffer): string | undefined {
  if (head.length < 6 || head.readUInt32BE(0) >= 0x1000000) return undefined;
  if (head[4] === 0x80 && head[5] === 0x01) return 'the peer frames its messages (a length, then a binary Thrift message): it uses the framed transport, this side buffered';
  if (head[4] === 0x82) return 'the peer frames its messages (a length, then a compact Thrift message): it uses the framed transport, this side buffered';
  return undefined;
}

/** `err` with `hint` appended to its message (same class, code and endpoint), or `err` itself. */
function withHint(err: ScalesError, hint: string | undefined): ScalesError {
  if (hint === undefined) return err;
  err.message = `${err.message}: ${hint}`;
  return err;
}

export function createDecoder(framing: Framing, sink: FrameSink, maxFrameSize: number, endpoint: string | undefined): FrameDecoder {
  return framing.kind === 'length-prefixed' ? new LengthPrefixedDecoder(sink, maxFrameSize, endpoint) : new MeasuredDecoder(framing.measure, sink, maxFrameSize, endpoint);
}

export class LengthPrefixedDecoder implements FrameDecoder {
  paused = false;
  readonly memoryFactor = 1;
  /** Never puts anything off: a frame's end is known from its prefix. */
  readonly drainAfterMs = -1;
  /** Leftover chunks of an incomplete frame; its bytes are joined once when the frame is complete. */
  private chunks: Buffer[] = [];
  /**
   * Where the bytes not yet delivered start in `chunks[0]`: frames handed out of it are ranges,
   * not slices (a view per frame cost ~4 % of a ThriftMux client's CPU once reads were split).
   */
  private head = 0;
  private buffered = 0;
  /** Prefix + payload size of the frame being collected; -1 until its prefix has arrived. */
  private frameEnd = -1;

  constructor(
    private readonly sink: FrameSink,
    private readonly maxFrameSize: number,
    private readonly endpoint: string | undefined,
  ) {}

  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (this.buffered === 0) {
      this.scan(chunk, 0);
      return;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.drain();
  }

  drain(): void {
    while (this.buffered > 0 && !this.paused) {
      const chunks = this.chunks;
      if (chunks.length === 1) {
        // One chunk left: its whole frames go out as ranges of it.
        const only = chunks[0]!;
        const head = this.head;
        this.chunks = [];
        this.head = 0;
        this.buffered = 0;
        this.frameEnd = -1;
        this.scan(only, head);
        return;
      }
      if (this.frameEnd < 0) {
        if (this.buffered < 4) return;
        const len = this.peekLength();
        if (len > this.maxFrameSize) throw this.tooLarge(len, this.heldHead(8));
        this.frameEnd = 4 + len;
      }
      const frameEnd = this.frameEnd;
      if (this.buffered < frameEnd) return; // O(1) per chunk while a big frame trickles in
      const first = chunks[0]!;
      const head = this.head;
      let frame: Buffer;
      let start: number;
      if (first.length - head >= frameEnd) {
        // Within the first chunk: a range of it.
        frame = first;
        start = head;
        if (first.length - head === frameEnd) {
          chunks.shift();
          this.head = 0;
        } else this.head = head + frameEnd;
      } else {
        // Join only this frame's bytes: the chunks after it (the start of the next frames, up to a
        // whole read's worth) are not copied with it (they were: 703 of 4,111 ms in a 10 MiB echo).
        frame = Buffer.allocUnsafe(frameEnd);
        start = 0;
        let filled = 0;
        let used = 0;
        let from = head;
        while (filled < frameEnd) {
          const c = chunks[used]!;
          const n = Math.min(c.length - from, frameEnd - filled);
          c.copy(frame, filled, from, from + n);
          filled += n;
          if (from + n === c.length) {
            used++;
            from = 0;
          } else from += n;
        }
        chunks.splice(0, used);
        this.head = from;
      }
      // The state is whole again before the sink runs (it may pause, or drain again).
      this.buffered -= frameEnd;
      this.frameEnd = -1;
      this.handOut(frame, start + 4, start + frameEnd);
    }
  }

  /** Delivers every whole frame of buf from `off` (views, no copy); keeps the rest. */
  private scan(buf: Buffer, off: number): void {
    const end = buf.length;
    while (end - off >= 4 && !this.paused) {
      const len = buf.readUInt32BE(off);
      if (len > this.maxFrameSize) throw this.tooLarge(len, buf.subarray(off, off + 8));
      const next = off + 4 + len;
      if (next > end) break;
      this.handOut(buf, off + 4, next);
      off = next;
    }
    if (off < end) {
      // The chunks are empty here (scan runs when nothing is buffered): the rest is `buf` from `off`.
      this.chunks.push(buf);
      this.head = off;
      this.buffered = end - off;
      this.frameEnd = -1;
    }
  }

  private handOut(buf: Buffer, start: number, end: number): void {
    const sink = this.sink;
    if (sink.deliverAt !== undefined) sink.deliverAt(buf, start, end);
    else sink.deliver(buf.subarray(start, end));
  }

  /** An oversized prefix, refused before anything of that size is allocated; the hint says what the bytes looked like. */
  private tooLarge(len: number, head: Buffer): FrameTooLargeError {
    return withHint(new FrameTooLargeError(len, this.maxFrameSize, { endpoint: this.endpoint }), mismatchHint(head, true)) as FrameTooLargeError;
  }

  /** The first `n` bytes held (fewer if fewer are), copied from as many chunks as they span: an error's hint, not the whole backlog. */
  private heldHead(n: number): Buffer {
    const out: Buffer[] = [];
    let left = n;
    let from = this.head;
    for (const c of this.chunks) {
      if (left === 0) break;
      const take = c.subarray(from, from + left);
      out.push(take);
      left -= take.length;
      from = 0;
    }
    return Buffer.concat(out);
  }

  /** The u32 prefix when it straddles chunks. */
  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length - this.head >= 4) return first.readUInt32BE(this.head);
    let v = 0;
    let n = 0;
    let from = this.head;
    for (const c of this.chunks) {
      for (let i = from; i < c.length; i++) {
        v = v * 256 + c[i]!;
        if (++n === 4) return v;
      }
      from = 0;
    }
    return -1; // unreachable: callers check buffered >= 4
  }
}

const EMPTY = Buffer.alloc(0);
const MIN_ACCUMULATOR = 16 * 1024;
const ACCUMULATOR_GROWTH = 1.25;
/** Measuring time one partial message may take on every chunk (CPU on a clock that a loaded machine stretches too)... */
const EAGER_MEASURE_MS = 2;
/** ...past it, the next measure waits until the partial message has grown by this factor... */
const MEASURE_GROWTH = 2;
/**
 * ...or until the stream has been quiet for this many times the last measure's duration (at
 * least QUIET_MIN_MS), doubled each time a quiet measure still finds the message incomplete,
 * at most QUIET_MAX_MS.
 */
const QUIET_FACTOR = 4;
const QUIET_MIN_MS = 1;
const QUIET_MAX_MS = 1000;

/**
 * Unframed streams: accumulate and ask the measurer where the first message ends.
 *
 * A measurer cannot resume: each measure of a partial message walks all of it again. Measuring
 * on every chunk made a big message trickled in small chunks quadratic (16 MB of small list
 * elements in 4 KB chunks: minutes of CPU). So each chunk measures the partial message again
 * only until those measures have taken 2 ms; after that, only once it has doubled in size since
 * the last measure: the measures of one message then add up to about 2 ms plus twice one
 * measure of the whole. The last chunk
 * of a message rarely doubles it, so when a measure is put off the owner calls `drain()` once
 * the stream has been quiet for `drainAfterMs` (a few times one measure's duration); a sender
 * that pauses mid-message just before each of those waits doubles it, up to a second.
 */
export class MeasuredDecoder implements FrameDecoder {
  paused = false;
  readonly memoryFactor = 2;
  drainAfterMs = -1;
  /** A message was handed out: the peer speaks the protocol (no mismatch hint after that). */
  private delivered = false;
  /** Undelivered bytes are acc[start, end). No message was ever handed out of acc. */
  private acc: Buffer = EMPTY;
  private start = 0;
  private end = 0;
  /** Bytes of the partial message at its last failed measure, and how long that measure took. */
  private failedAt = 0;
  private failedMs = 0;
  /** Time spent measuring the partial message so far. */
  private spentMs = 0;
  /** Quiet measures (drain) that found the partial message still incomplete. */
  private quietFailures = 0;

  constructor(
    private readonly measure: MessageMeasurer,
    private readonly sink: FrameSink,
    private readonly maxFrameSize: number,
    private readonly endpoint: string | undefined,
    /** Times the measures (a test passes a still clock to count measures without a stall's deferral). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  get pendingBytes(): number {
    return this.end - this.start;
  }

  push(chunk: Buffer): void {
    this.drainAfterMs = -1;
    if (this.end === this.start) {
      this.scan(chunk, 0, chunk.length, false, false);
      return;
    }
    this.append(chunk);
    if (!this.paused) this.scan(this.acc, this.start, this.end, true, false);
  }

  drain(): void {
    this.drainAfterMs = -1;
    if (this.end === this.start || this.paused) return;
    this.scan(this.acc, this.start, this.end, true, true);
  }

  /** `quiet`: measure even if the rule would put it off (the stream went quiet, or reading resumed). */
  private scan(buf: Buffer, off: number, end: number, fromAcc: boolean, quiet: boolean): void {
    const first = off;
    let incomplete = false;
    if (fromAcc) {
      // The partial message left by earlier chunks: measure it again, or put that off.
      const held = end - off;
      if (!quiet && this.spentMs >= EAGER_MEASURE_MS && held < this.failedAt * MEASURE_GROWTH && held <= this.maxFrameSize) {
        this.drainAfterMs = Math.min(QUIET_MAX_MS, Math.max(QUIET_MIN_MS, QUIET_FACTOR * this.failedMs) * 2 ** this.quietFailures);
        return;
      }
      const t0 = this.now();
      const n = this.measureAt(buf, off, end);
      if (n < 0) {
        this.failedAt = held;
        this.failedMs = this.now() - t0;
        this.spentMs += this.failedMs;
        if (quiet) this.quietFailures++;
        incomplete = true;
      } else {
        this.failedAt = this.failedMs = this.spentMs = this.quietFailures = 0;
        off = this.handOut(buf, off, end, n);
      }
    }
    while (off < end && !incomplete) {
      if (this.paused) break;
      const n = this.measureAt(buf, off, end);
      if (n < 0) {
        // A new partial message (its first failed measure is not timed: one clock read per chunk, not per message).
        this.failedAt = end - off;
        this.failedMs = this.spentMs = this.quietFailures = 0;
        incomplete = true;
        break;
      }
      off = this.handOut(buf, off, end, n);
    }
    const left = end - off;
    if (incomplete && left > this.maxFrameSize) {
      throw new FrameTooLargeError(left, this.maxFrameSize, { endpoint: this.endpoint });
    }
    if (fromAcc && off === first) return; // nothing handed out: acc stays as it is
    if (left === 0) {
      // A message was handed out of acc: never write into it again.
      if (fromAcc) this.acc = EMPTY;
      this.start = this.end = 0;
      return;
    }
    // Move the tail to an accumulator nobody holds a view of.
    if (fromAcc || this.acc.length < left) this.acc = Buffer.allocUnsafe(this.capacityFor(left));
    buf.copy(this.acc, 0, off, end);
    this.start = 0;
    this.end = left;
  }

  /** Hands out the `n`-byte message at `off`; returns where the next one starts. */
  private handOut(buf: Buffer, off: number, end: number, n: number): number {
    if (n === 0 || n > end - off) {
      throw new ProtocolError(`message measurer returned ${n} for ${end - off} available bytes`, { endpoint: this.endpoint });
    }
    if (n > this.maxFrameSize) throw new FrameTooLargeError(n, this.maxFrameSize, { endpoint: this.endpoint });
    this.delivered = true;
    this.sink.deliver(buf.subarray(off, off + n));
    return off + n;
  }

  private append(chunk: Buffer): void {
    const live = this.end - this.start;
    if (this.end + chunk.length > this.acc.length) {
      const next = Buffer.allocUnsafe(this.capacityFor(live + chunk.length, Math.ceil(this.acc.length * ACCUMULATOR_GROWTH)));
      this.acc.copy(next, 0, this.start, this.end);
      this.acc = next;
      this.start = 0;
      this.end = live;
    }
    chunk.copy(this.acc, this.end);
    this.end += chunk.length;
  }

  /**
   * An accumulator size for `needed` bytes. The budget charges the bytes received, not this
   * capacity, so the room beyond them is kept small: growth by a quarter (appends stay linear:
   * each byte is copied ~4 times in all) and never past the largest message allowed. Doubling
   * let a sender of 8 MiB + 1 byte partial messages hold twice what the budget charged (a
   * hostile test's server peaked at 556 MB).
   */
  private capacityFor(needed: number, grown = 0): number {
    const roomy = Math.max(MIN_ACCUMULATOR, grown, Math.ceil(needed * ACCUMULATOR_GROWTH));
    return Math.max(needed, Math.min(roomy, this.maxFrameSize + MIN_ACCUMULATOR));
  }

  private measureAt(buf: Buffer, off: number, end: number): number {
    if (!this.delivered && end - off >= 6) {
      // Before the first message only: a framed peer would leave this side waiting forever.
      const framed = framedPeerHint(buf.subarray(off, off + 8));
      if (framed !== undefined) throw new ProtocolError(`the first bytes are no message of this protocol: ${framed}`, { endpoint: this.endpoint });
    }
    try {
      return this.measure(buf, off, end);
    } catch (err) {
      if (err instanceof BufferUnderflow) return -1;
      // Only the stream's very first message can say what the peer speaks instead.
      if (err instanceof ScalesError) throw this.delivered ? err : withHint(err, mismatchHint(buf.subarray(off, off + 8), false));
      throw new ProtocolError(`cannot find the end of a message: ${(err as Error)?.message ?? String(err)}`, { endpoint: this.endpoint, cause: err });
    }
  }
}
