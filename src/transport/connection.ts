import type net from 'node:net';
import { BufferWriter } from '../core/bytes.js';
import { performance } from '../core/clock.js';
import { ConnectionClosedError, FrameTooLargeError, OverloadedError, ProtocolError, ReadTimeoutError, ScalesError } from '../core/errors.js';
import { connectSocket, formatEndpoint, type ConnectOptions } from './connect.js';
import { readSplit, scheduleFlush } from './flush-scheduling.js';
import type { FrameBudget, FrameBudgetHolder } from './frame-budget.js';
import { createDecoder, type FrameDecoder, type FrameSink, type Framing } from './framing.js';

/** Most event-loop turns a batch is held for (see `holdFlush`). */
const MAX_HELD_TURNS = 4;
/**
 * A batch this large goes out whatever `holdFlush` says: one write already carries its cost, and
 * holding big messages would only walk the buffer toward `maxWriteBufferBytes` (an OverloadedError
 * no unheld connection would have raised). ThriftMux's held batches at 1,000 echo calls in flight
 * are ~30 KB.
 */
const MAX_HELD_BYTES = 64 * 1024;

export interface ConnectionOptions {
  framing: Framing;
  /** Largest message read or written, prefix excluded (default 16 MiB). */
  maxFrameSize?: number;
  /** Unflushed + socket-buffered bytes past which endMessage throws OverloadedError (default 64 MiB). */
  maxWriteBufferBytes?: number;
  /** `host:port` label used in errors (default: the socket's remote address). */
  endpoint?: string;
  /**
   * Read timeout: a message must arrive whole within this many ms of its first byte, else the
   * connection closes with ReadTimeoutError (default: none; servers set one). The clock stops
   * while reading is paused.
   */
  frameTimeoutMs?: number;
  /** Charge the bytes of partly received messages to this budget (default: none; servers use `partialFrameBudget`). */
  frameBudget?: FrameBudget;
  /**
   * The read split (see `readSplit` in flush-scheduling.ts): after this many messages of one
   * read, flush what they caused before delivering the rest, then again after twice as many,
   * and so on. 0: off. Default: the process-wide `setReadSplit` value (0).
   */
  readSplit?: number;
}

const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;
const DEFAULT_MAX_WRITE_BUFFER = 64 * 1024 * 1024;
const DEFAULT_END_TIMEOUT_MS = 5000;
/** Per-connection batch buffer to start with: small, many servers hold thousands of connections. */
const INITIAL_BATCH = 16 * 1024;
/** Batches at least this big are handed to the socket as they are (no copy); the writer gets a new buffer. */
const HANDOFF_BATCH = 64 * 1024;
const MAX_KEPT_BATCH = 256 * 1024;

/**
 * One TCP connection carrying framed messages, for clients and servers alike.
 *
 * Writing: encode straight into `writer` between `beginMessage()` and `endMessage(mark)`, all in
 * one synchronous stretch (do not await in between, do not nest). Every message ended during one
 * event-loop turn goes out in a single `socket.write` (see flush-scheduling.ts). While the socket
 * asks for 'drain', messages keep batching in the buffer, up to `maxWriteBufferBytes`.
 *
 * Reading: `onMessage` gets each whole message (payload only for length-prefixed framing); the
 * Buffer is never reused by the connection. Any framing violation closes the connection.
 *
 * Closing: `onClose` fires exactly once; `undefined` means a clean close.
 */
export class Connection implements FrameSink, FrameBudgetHolder {
  /** Opens a client connection. Rejects with ConnectError, ConnectTimeoutError or CancelledError. */
  static async connect(host: string, port: number, opts: ConnectionOptions & ConnectOptions): Promise<Connection> {
    const endpoint = opts.endpoint ?? formatEndpoint(host, port);
    const socket = await connectSocket(host, port, endpoint, opts);
    return new Connection(socket, { ...opts, endpoint });
  }

  /** Each whole message (payload only for length-prefixed framing), as a Buffer of its own (a view). */
  get onMessage(): (message: Buffer) => void {
    return this.messageHook;
  }
  /** Setting it also clears `onFrame`: the latest hook set is the one that hears the messages. */
  set onMessage(hook: (message: Buffer) => void) {
    this.messageHook = hook;
    this.onFrame = undefined;
  }
  private messageHook: (message: Buffer) => void = dropMessage;
  /**
   * Set instead of `onMessage` (after it) to hear each length-prefixed message as a range of a
   * buffer, without a Buffer view made per message (about 50 ns each). The bytes stay as they
   * are, as `onMessage`'s do.
   */
  onFrame: ((buf: Buffer, start: number, end: number) => void) | undefined = undefined;
  /**
   * `performance.now()` when the bytes being delivered now were read from the socket: one clock
   * read per read, shared by every message in it (a reply's arrival time, for latency stats).
   */
  readAt = 0;
  onClose: (error: ScalesError | undefined) => void = ignoreClose;
  /**
   * The peer half-closed (sent FIN): it will send nothing more. Default: `end()` (flush, close
   * our side). Servers override it to finish in-flight replies first, then call `end()`.
   */
  onPeerEnd: () => void = () => void this.end();

  readonly endpoint: string;
  readonly writer: BufferWriter;

  private readonly socket: net.Socket;
  private readonly decoder: FrameDecoder;
  private readonly prefixBytes: number;
  private readonly maxFrameSize: number;
  private readonly maxWriteBufferBytes: number;
  private readonly flushCallback = (): void => this.flush();
  private readonly resumeCallback = (): void => this.drainBuffered();
  private readonly splitCallback = (): void => this.resumeSplit();
  /** Messages delivered since the read began or the last split (see `readSplit`). */
  private deliveredInRead = 0;
  /** This connection's read split, or -1: the process-wide one. */
  private readonly splitEvery: number;
  /** Messages before the next split of this read: the split size, doubled after each split (a large read is cut a few times, not every N). */
  private splitAt = 0;
  /** Delivery stopped mid-read by `readSplit`; resumes in the check phase after a flush. */
  private splitPaused = false;
  private readonly frameTimeoutMs: number;
  private readonly frameBudget: FrameBudget | undefined;
  /** @internal FrameBudgetHolder: bytes of partial messages charged to frameBudget. */
  budgetCharge = 0;
  /** `readAt` of the read that brought the first byte of the partial message held now. */
  private partialSince = 0;
  private frameTimer: NodeJS.Timeout | undefined = undefined;
  private quietTimer: NodeJS.Timeout | undefined = undefined;
  private quietTimerMs = 0;
  private readonly frameTimeUp = (): void => this.checkFrameTime();

  private isClosed = false;
  private ending = false;
  private endPromise: Promise<void> | undefined;
  private endTimer: NodeJS.Timeout | undefined;
  private socketClosed = false;
  private closeWaiters: (() => void)[] = [];
  private flushScheduled = false;
  private batched = 0;
  /**
   * Asked when the batch is due to go out (a flush, or a read split): true holds it one more
   * event-loop turn, so that what the continuations of the next read write joins it. A session
   * says yes while its peer still has plenty to work on: one write then carries several reads'
   * worth of calls instead of one each (see thriftmux/batching.ts). Bounded: a batch is held at
   * most MAX_HELD_TURNS turns, past the first only while reads keep arriving, and never once it
   * reaches MAX_HELD_BYTES.
   */
  holdFlush: (() => boolean) | undefined = undefined;
  private heldTurns = 0;
  private readsWhileHeld = 0;
  private waitingDrain = false;
  private readPaused = false;
  private peerEnded = false;
  private peerEndHandled = false;
  /** end() was called while reading was paused: bytes are thrown away, only the FIN matters. */
  private discardInput = false;

  /** Wraps a connected socket (an accepted one on servers). */
  constructor(socket: net.Socket, opts: ConnectionOptions) {
    this.socket = socket;
    this.endpoint = opts.endpoint ?? formatEndpoint(socket.remoteAddress ?? 'unknown', socket.remotePort ?? 0);
    this.maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME;
    this.maxWriteBufferBytes = opts.maxWriteBufferBytes ?? DEFAULT_MAX_WRITE_BUFFER;
    this.frameTimeoutMs = opts.frameTimeoutMs ?? 0;
    this.splitEvery = opts.readSplit === undefined ? -1 : Math.max(0, Math.floor(opts.readSplit));
    this.frameBudget = opts.frameBudget;
    this.prefixBytes = opts.framing.kind === 'length-prefixed' ? 4 : 0;
    this.decoder = createDecoder(opts.framing, this, this.maxFrameSize, this.endpoint);
    this.writer = new BufferWriter(INITIAL_BATCH);
    // A peer's FIN must not end our side: a server still owes replies to calls already read.
    socket.allowHalfOpen = true;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onSocketEnd());
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err: Error) => this.onSocketError(err));
    socket.on('close', () => this.onSocketClose());
    // Already gone before we listened: report it once the owner has set onClose.
    if (socket.closed) process.nextTick(() => this.onSocketClose());
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Closed, or half-closed by us (end() was called): no new message can be begun. */
  get closing(): boolean {
    return this.isClosed || this.ending;
  }

  /** True while the socket refuses more bytes (writes still batch, up to maxWriteBufferBytes). */
  get writableNeedsDrain(): boolean {
    return this.waitingDrain;
  }

  /**
   * Whether this connection keeps the process alive (Node's default: yes). Client sessions let go
   * while no call waits for a reply, as undici does, so a client nobody closed does not hold the
   * process open; a call in flight holds it again.
   */
  holdProcess(hold: boolean): void {
    if (hold) this.socket.ref();
    else this.socket.unref();
  }

  /** True while part of a message has arrived and the rest has not. */
  get readingMessage(): boolean {
    return this.decoder.pendingBytes > 0;
  }

  /** Messages in the batch, not yet written to the socket. */
  get batchedMessages(): number {
    return this.batched;
  }

  /** Bytes handed to the connection and not yet accepted by the kernel. */
  get bufferedWriteBytes(): number {
    return this.writer.pos + this.socket.writableLength;
  }

  // ---- writing -------------------------------------------------------------------------------

  /** Starts a message; returns the mark to pass to endMessage/abortMessage. */
  beginMessage(): number {
    if (this.isClosed || this.ending) {
      // Nothing of this message reached the socket: safe to send elsewhere.
      throw new ConnectionClosedError(this.isClosed ? 'connection is closed' : 'connection is closing', { endpoint: this.endpoint, unwritten: true });
    }
    const w = this.writer;
    const mark = w.pos;
    if (this.prefixBytes !== 0) w.reserve(4);
    return mark;
  }

  /**
   * Finishes the message begun at `mark` and schedules the flush. Throws FrameTooLargeError or
   * OverloadedError after rolling the message back; the connection stays usable.
   */
  endMessage(mark: number): void {
    const w = this.writer;
    const size = w.pos - mark - this.prefixBytes;
    if (size > this.maxFrameSize) {
      w.pos = mark;
      throw new FrameTooLargeError(size, this.maxFrameSize, { endpoint: this.endpoint });
    }
    if (w.pos + this.socket.writableLength > this.maxWriteBufferBytes) {
      w.pos = mark;
      throw new OverloadedError(`write buffer to ${this.endpoint} is over ${this.maxWriteBufferBytes} bytes (peer not reading)`, { endpoint: this.endpoint });
    }
    if (this.prefixBytes !== 0) w.buf.writeUInt32BE(size, mark);
    this.batched++;
    if (!this.flushScheduled && !this.waitingDrain) {
      this.flushScheduled = true;
      scheduleFlush(this.flushCallback);
    }
  }

  /** Drops a half-encoded message (its encoder threw). */
  abortMessage(mark: number): void {
    this.writer.pos = mark;
  }

  /** Whether a non-empty batch may wait: the session asks, within the byte bound. */
  private mayHold(): boolean {
    return this.batched !== 0 && this.writer.pos < MAX_HELD_BYTES && this.holdFlush?.() === true;
  }

  private flush(): void {
    // Nothing batched (a read split wrote it meanwhile): nothing to hold.
    if (this.heldTurns < MAX_HELD_TURNS && (this.heldTurns === 0 || this.readsWhileHeld > 0) && !this.isClosed && this.mayHold()) {
      this.heldTurns++;
      this.readsWhileHeld = 0;
      scheduleFlush(this.flushCallback);
      return;
    }
    this.heldTurns = 0;
    this.flushScheduled = false;
    if (!this.isClosed && !this.waitingDrain) this.writeBatch();
  }

  /** One socket.write for everything batched. */
  private writeBatch(): void {
    const w = this.writer;
    const n = w.pos;
    if (n === 0) return;
    let out: Buffer;
    if (n >= HANDOFF_BATCH) {
      out = w.buf.subarray(0, n);
      w.buf = Buffer.allocUnsafe(Math.min(w.buf.length, MAX_KEPT_BATCH));
    } else {
      out = Buffer.allocUnsafe(n); // small sizes come from Node's shared pool
      w.buf.copy(out, 0, 0, n);
    }
    w.pos = 0;
    this.batched = 0;
    if (!this.socket.write(out)) this.waitingDrain = true;
  }

  private onDrain(): void {
    this.waitingDrain = false;
    if (!this.isClosed) this.writeBatch();
  }

  // ---- reading -------------------------------------------------------------------------------

  /** At least one message arrived: the peer speaks our protocol (else a close says so, see `closedBeforeAnyReply`). */
  received = false;

  /** @internal FrameSink: called by the decoder for every whole message. */
  deliver(message: Buffer): void {
    this.deliverAt(message, 0, message.length);
  }

  /** @internal FrameSink: the same, as a range (length-prefixed framing). */
  deliverAt(buf: Buffer, start: number, end: number): void {
    this.received = true;
    // Whatever follows this message in the stream began in the read being delivered now.
    this.partialSince = this.readAt;
    const frame = this.onFrame;
    if (frame !== undefined) frame(buf, start, end);
    else this.messageHook(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    const every = this.splitEvery < 0 ? readSplit : this.splitEvery;
    if (every !== 0 && ++this.deliveredInRead >= (this.splitAt || every) && this.prefixBytes !== 0 && !this.splitPaused) {
      this.splitAt = (this.splitAt || every) * 2;
      this.splitPaused = true;
      this.decoder.paused = true;
      setImmediate(this.splitCallback);
    }
  }

  /** After a split: what the delivered messages' continuations wrote goes out now, then the rest of the read. */
  private resumeSplit(): void {
    this.splitPaused = false;
    this.deliveredInRead = 0;
    if (this.isClosed) return;
    if (!this.waitingDrain && !this.mayHold()) this.writeBatch();
    if (this.readPaused) return; // resumeReading() delivers the rest
    this.decoder.paused = false;
    this.drainBuffered();
  }

  /** Stops delivering messages (at once, even within a chunk) until resumeReading(). */
  pauseReading(): void {
    if (this.readPaused || this.isClosed) return;
    this.readPaused = true;
    this.decoder.paused = true;
    this.socket.pause();
  }

  resumeReading(): void {
    if (!this.readPaused || this.isClosed || this.ending) return;
    this.readPaused = false;
    if (this.splitPaused) {
      this.socket.resume();
      return; // resumeSplit() delivers the rest
    }
    this.decoder.paused = false;
    // Deliver what was buffered on a later tick (not inside the caller's stack), before new data.
    if (this.decoder.pendingBytes > 0 || this.peerEnded) {
      // The read timeout does not count the pause against the peer.
      if (this.frameTimeoutMs > 0) this.partialSince = performance.now();
      process.nextTick(this.resumeCallback);
    }
    this.socket.resume();
  }

  private drainBuffered(): void {
    if (this.isClosed || this.readPaused) return;
    this.readAt = performance.now();
    try {
      this.decoder.drain();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.afterRead();
    if (this.peerEnded && !this.readPaused) this.handlePeerEnd();
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed || this.discardInput) return;
    this.readsWhileHeld++;
    this.deliveredInRead = 0;
    this.splitAt = 0;
    const now = performance.now();
    this.readAt = now;
    if (this.decoder.pendingBytes === 0) this.partialSince = now;
    try {
      this.decoder.push(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.afterRead();
  }

  /** Read limits, once per read: the partial-message budget, the read timeout, a put-off measure. */
  private afterRead(): void {
    if (this.isClosed) return;
    const d = this.decoder;
    const held = d.pendingBytes * d.memoryFactor;
    if (held !== this.budgetCharge && this.frameBudget !== undefined) {
      this.frameBudget.set(this, held);
      if (this.isClosed) return; // this connection held the most: evicted
    }
    if (held > 0 && this.frameTimeoutMs > 0 && this.frameTimer === undefined) {
      this.frameTimer = setTimeout(this.frameTimeUp, Math.max(1, this.partialSince + this.frameTimeoutMs - this.readAt));
      this.frameTimer.unref();
    }
    const quietMs = d.drainAfterMs;
    if (quietMs >= 0) {
      // Debounced: every chunk pushes the measure back; it runs once the stream is quiet.
      if (this.quietTimer !== undefined && this.quietTimerMs === quietMs) this.quietTimer.refresh();
      else {
        if (this.quietTimer !== undefined) clearTimeout(this.quietTimer);
        this.quietTimerMs = quietMs;
        this.quietTimer = setTimeout(this.resumeCallback, quietMs);
        this.quietTimer.unref();
      }
    } else if (this.quietTimer !== undefined) {
      clearTimeout(this.quietTimer);
      this.quietTimer = undefined;
    }
  }

  /** The read timeout's timer: closes the connection if the partial message it watched is still incomplete. */
  private checkFrameTime(): void {
    this.frameTimer = undefined;
    if (this.isClosed || this.ending || this.decoder.pendingBytes === 0) return;
    const left = this.readPaused ? this.frameTimeoutMs : this.partialSince + this.frameTimeoutMs - performance.now();
    if (left > 0) {
      this.frameTimer = setTimeout(this.frameTimeUp, Math.max(1, left));
      this.frameTimer.unref();
      return;
    }
    const held = this.decoder.pendingBytes;
    this.close(new ReadTimeoutError(`${this.endpoint} sent ${held} bytes of a message but not the rest within ${this.frameTimeoutMs} ms (frameTimeoutMs)`, { endpoint: this.endpoint }));
  }

  /** @internal FrameBudgetHolder: the budget closes the connection holding the most. */
  evict(err: ScalesError): void {
    this.close(err);
  }

  private onSocketEnd(): void {
    if (this.isClosed) return;
    this.peerEnded = true;
    if (this.ending) return; // our side is done too: the socket closes itself
    if (this.readPaused) return; // buffered whole messages first; resumeReading() finishes this
    this.handlePeerEnd();
  }

  private handlePeerEnd(): void {
    if (this.peerEndHandled || this.isClosed || this.ending || this.splitPaused) return; // resumeSplit() comes back here
    if (this.decoder.drainAfterMs >= 0) {
      // A measure was put off: what is buffered may be whole messages; nothing more will come.
      this.readAt = performance.now();
      try {
        this.decoder.drain();
      } catch (err) {
        this.fail(err);
        return;
      }
      if (this.isClosed || this.readPaused) return; // resumeReading() comes back here
    }
    this.peerEndHandled = true;
    const partial = this.decoder.pendingBytes;
    if (partial > 0) {
      this.close(new ConnectionClosedError(`${this.endpoint} closed the connection with a partial frame of ${partial} bytes pending`, { endpoint: this.endpoint }));
      return;
    }
    this.onPeerEnd();
  }

  // ---- closing -------------------------------------------------------------------------------

  /**
   * Graceful close: sends what is batched, half-closes our side, and resolves once the socket is
   * fully closed (the peer closed its side too), or after `timeoutMs` (then the socket is
   * destroyed). Messages keep arriving until the peer closes. No new message may be begun.
   */
  end(timeoutMs = DEFAULT_END_TIMEOUT_MS): Promise<void> {
    if (this.endPromise !== undefined) return this.endPromise;
    if (this.isClosed) {
      this.endPromise = this.socketClosed ? Promise.resolve() : new Promise((resolve) => this.closeWaiters.push(resolve));
      return this.endPromise;
    }
    this.ending = true;
    this.endPromise = new Promise((resolve) => this.closeWaiters.push(resolve));
    this.writeBatch(); // even while waiting for 'drain': end() sends FIN only after buffered bytes
    this.socket.end();
    if (this.readPaused) {
      // Nothing more will be read, but the peer's FIN must still be seen for the socket to close.
      this.discardInput = true;
      this.socket.resume();
    }
    this.endTimer = setTimeout(() => this.endTimedOut(timeoutMs), timeoutMs);
    this.endTimer.unref();
    return this.endPromise;
  }

  private endTimedOut(timeoutMs: number): void {
    const unsent = this.socket.writableLength;
    this.close(unsent > 0 ? new ConnectionClosedError(`${this.endpoint} did not take the last ${unsent} bytes within ${timeoutMs} ms`, { endpoint: this.endpoint }) : undefined);
  }

  /** Destroys the socket now; batched bytes are dropped. onClose(error) runs before this returns. */
  close(error?: ScalesError): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.decoder.paused = true;
    this.writer.pos = 0;
    if (this.endTimer !== undefined) clearTimeout(this.endTimer);
    if (this.frameTimer !== undefined) clearTimeout(this.frameTimer);
    if (this.quietTimer !== undefined) clearTimeout(this.quietTimer);
    this.frameBudget?.set(this, 0);
    this.socket.destroy();
    this.onClose(error);
  }

  private fail(err: unknown): void {
    if (err instanceof ScalesError) {
      this.close(err);
      return;
    }
    // The message handler itself threw: a bug above us, but still this connection's end.
    this.close(new ProtocolError(`message handler for ${this.endpoint} threw: ${(err as Error)?.message ?? String(err)}`, { endpoint: this.endpoint, cause: err }));
  }

  private onSocketError(err: Error): void {
    this.close(new ConnectionClosedError(`connection to ${this.endpoint} failed: ${err.message}`, { endpoint: this.endpoint, cause: err }));
  }

  private onSocketClose(): void {
    if (this.socketClosed) return;
    this.socketClosed = true;
    if (!this.isClosed) {
      // Both sides ended (clean), or someone destroyed the socket under us.
      this.close(this.ending || this.peerEnded ? undefined : new ConnectionClosedError(`connection to ${this.endpoint} closed`, { endpoint: this.endpoint }));
    }
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of waiters) w();
  }
}

/**
 * For a peer that closes a client's connection before sending one message: the usual reason is
 * that it speaks another protocol, transport or TLS setting, and logged why on its side.
 */
export const CLOSED_BEFORE_ANY_REPLY = 'before answering anything: does it speak this protocol and transport (framed vs buffered, binary vs compact, TLS)? Its log says why';

function dropMessage(): void {}
function ignoreClose(): void {}
