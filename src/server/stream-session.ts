import type net from 'node:net';
import { performance, turnNow } from '../core/clock.js';
import { ConnectionClosedError, FrameBudgetError, ProtocolError, ReadTimeoutError, ScalesError } from '../core/errors.js';
import type { Counter } from '../stats/registry.js';
import type { Connection } from '../transport/connection.js';
import { mismatchHint } from '../transport/framing.js';
import { UnknownMethod, type ServerRequest } from './codec.js';
import type { ServerDispatcher } from './dispatcher.js';
import { describeError, isInstance, report } from './safe.js';
import { ServerSession } from './session.js';

// Why reading is paused (a bit each): it resumes only once none is left.
const CONCURRENCY = 1;
const WRITES = 2;
const DRAIN = 4;
/** How long a session waits for the peer to acknowledge a drain notice, unless the codec says. */
const DEFAULT_DRAIN_ACK_MS = 1000;

/** What the sessions of one server share: the idle timeout, and counters of the connections its limits closed. */
export interface StreamSessionLimits {
  /** A connection with nothing in flight and no bytes received for this long is closed gracefully (0: never). */
  idleTimeoutMs: number;
  idleClosed: Counter;
  /** Closed by the read timeout (ReadTimeoutError). */
  readTimeouts: Counter;
  /** Closed as the biggest holder of partly received messages when the budget ran over (FrameBudgetError). */
  overFrameBudget: Counter;
}

/**
 * Serves one byte-stream connection (framed `Connection`: Thrift, Mux): reads messages, runs them
 * concurrently, answers each as its handler settles (in any order; the protocol's ids match them).
 *
 * Reading pauses while `maxConcurrentPerConnection` requests run, while the connection's writes
 * are blocked (the peer does not read its answers: without this a client that never reads would
 * make the server buffer answers up to the write limit), and for good once draining.
 * Malformed input closes this connection only. With `limits.idleTimeoutMs`, a connection that has
 * nothing in flight and sent nothing for that long is drained (closed gracefully).
 */
export class StreamSession<Req extends ServerRequest> extends ServerSession<Connection, Req> {
  private pausedFor = 0;
  private ending = false;
  private drained: Promise<void> | undefined;
  private onDrained: (() => void) | undefined;
  /**
   * When the last request arrived or inFlight last fell to 0 (or the session began): the idle
   * clock runs from this. Reads of anything else (a Mux client's Tping every 5 s) do not reset
   * it, or a pinging client would hold its connection forever (an aperture client's sessions
   * to nodes that left its window); a message half arrived does.
   */
  private quietSince = 0;
  private idleTimer: NodeJS.Timeout | undefined = undefined;
  private readonly idleCheck = (): void => this.checkIdle();
  private decodedAny = false;

  constructor(
    dispatcher: ServerDispatcher<Connection, Req>,
    conn: Connection,
    socket: net.Socket,
    private readonly limits?: StreamSessionLimits,
  ) {
    super(dispatcher, conn, conn.endpoint);
    conn.onMessage = (m) => this.onMessage(m);
    if (dispatcher.codec.decodeRange !== undefined) conn.onFrame = (buf, start, end) => this.onFrame(buf, start, end);
    conn.onPeerEnd = () => {
      // A protocol without half-close (Mux): the caller is gone; what runs is aborted (its
      // nested calls with it) and nobody waits for answers no one will read.
      // (Closed without an error: a caller leaving is not a fault to report; onClosed aborts
      // the running requests with ConnectionClosedError.)
      if (dispatcher.codec.peerEndIsGone?.(conn) === true) return conn.close();
      // Half-close: the peer sent its last call; answer what runs, then close our side.
      this.ending = true;
      if (this.inFlight === 0) void this.end();
    };
    conn.onClose = (err) => this.onClosed(err);
    // The connection does not tell its owner when writes flow again; the socket does (after the
    // connection's own 'drain' listener, which was added first, has flushed its batch).
    socket.on('drain', () => {
      if ((this.pausedFor & WRITES) !== 0 && !conn.writableNeedsDrain) this.unpause(WRITES);
    });
    if (limits !== undefined && limits.idleTimeoutMs > 0) {
      this.quietSince = performance.now();
      this.armIdle(limits.idleTimeoutMs);
    }
    dispatcher.add(this);
  }

  get closed(): boolean {
    return this.out.closed;
  }

  close(err?: ScalesError): void {
    this.out.close(err);
  }

  private onMessage(message: Buffer): void {
    let r: Req | UnknownMethod | undefined;
    try {
      r = this.dispatcher.codec.decode(message, this.out);
    } catch (err) {
      return this.undecodable(err, message);
    }
    this.accept(r);
  }

  /** onMessage for a message in buf[start, end) (codecs with decodeRange: no Buffer view per message). */
  private onFrame(buf: Buffer, start: number, end: number): void {
    let r: Req | UnknownMethod | undefined;
    try {
      r = this.dispatcher.codec.decodeRange!(buf, start, end, this.out);
    } catch (err) {
      return this.undecodable(err, buf.subarray(start, end));
    }
    this.accept(r);
  }

  private undecodable(err: unknown, message: Buffer): void {
    const reason = isInstance(err, ScalesError) ? err : new ProtocolError(`bad message: ${describeError(err)}`, { cause: err });
    // The first message that does not decode usually means another protocol (compact vs binary).
    const hint = this.decodedAny ? undefined : mismatchHint(message, false);
    this.out.close(new ProtocolError(`${reason.message} from ${this.peer}${hint === undefined ? '' : `: ${hint}`}`, { endpoint: this.peer, cause: reason }));
  }

  private accept(r: Req | UnknownMethod | undefined): void {
    const conn = this.out;
    this.decodedAny = true;
    if (r === undefined) return;
    if (this.idleTimer !== undefined) this.quietSince = conn.readAt;
    if (r instanceof UnknownMethod) return this.answerUnknown(r);
    this.serve(r, conn.readAt);
    if (this.inFlight >= this.dispatcher.maxConcurrentPerConnection) this.pause(CONCURRENCY);
    if (conn.writableNeedsDrain) this.pause(WRITES);
  }

  protected settled(): void {
    // One clock read per synchronous run at most (the stats role's reading is shared).
    if (this.inFlight === 0 && this.idleTimer !== undefined) this.quietSince = turnNow();
    if ((this.pausedFor & CONCURRENCY) !== 0 && this.inFlight < this.dispatcher.maxConcurrentPerConnection) this.unpause(CONCURRENCY);
    if (this.ending && this.inFlight === 0) void this.end();
  }

  drain(): Promise<void> {
    if (this.drained !== undefined) return this.drained;
    const acked = this.startAcknowledgedDrain();
    this.drained = acked === undefined ? this.stopAndDrain() : acked.then(() => this.stopAndDrain());
    return this.drained;
  }

  /** The codec's acknowledged drain (see ServerCodec.startDrain), bounded by its drainAckMs; reading goes on meanwhile. */
  private startAcknowledgedDrain(): Promise<void> | undefined {
    const codec = this.dispatcher.codec;
    if (codec.startDrain === undefined || this.out.closing) return undefined;
    let acked: Promise<void> | undefined;
    try {
      acked = codec.startDrain(this.out);
    } catch (err) {
      report(this.dispatcher.onError, err, `drain notice to ${this.peer}`);
    }
    if (acked === undefined) return undefined;
    this.stopIdle();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, codec.drainAckMs ?? DEFAULT_DRAIN_ACK_MS)));
    const settled = (): void => clearTimeout(timer);
    return Promise.race([acked.catch(() => undefined), bound]).then(settled);
  }

  /** Stops reading, lets what runs answer, then ends the connection. */
  private stopAndDrain(): Promise<void> {
    this.ending = true;
    this.stopIdle();
    this.pause(DRAIN);
    if (!this.out.closing) {
      try {
        this.dispatcher.codec.writeDrain?.(this.out);
      } catch (err) {
        report(this.dispatcher.onError, err, `drain notice to ${this.peer}`);
      }
    }
    return this.inFlight === 0 ? this.end() : new Promise((resolve) => (this.onDrained = resolve));
  }

  private end(): Promise<void> {
    const ended = this.out.end();
    const done = this.onDrained;
    if (done !== undefined) {
      this.onDrained = undefined;
      ended.then(done, done);
    }
    return ended;
  }

  private pause(why: number): void {
    if (this.pausedFor === 0) this.out.pauseReading();
    this.pausedFor |= why;
  }

  private unpause(why: number): void {
    this.pausedFor &= ~why;
    if (this.pausedFor === 0) this.out.resumeReading();
  }

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(this.idleCheck, Math.max(1, ms));
    this.idleTimer.unref();
  }

  private stopIdle(): void {
    if (this.idleTimer === undefined) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** The idle timer: lazy (re-armed for what is left), so reads and answers cost no timer work. */
  private checkIdle(): void {
    this.idleTimer = undefined;
    const limits = this.limits!;
    if (this.closed || this.ending) return;
    const idleMs = limits.idleTimeoutMs;
    const left = this.inFlight > 0 ? idleMs : (this.out.readingMessage ? Math.max(this.quietSince, this.out.readAt) : this.quietSince) + idleMs - performance.now();
    if (left > 0) {
      this.armIdle(left);
      return;
    }
    limits.idleClosed.incr();
    void this.drain();
  }

  private onClosed(err: ScalesError | undefined): void {
    this.stopIdle();
    if (this.limits !== undefined) {
      if (isInstance(err, ReadTimeoutError)) this.limits.readTimeouts.incr();
      else if (isInstance(err, FrameBudgetError)) this.limits.overFrameBudget.incr();
    }
    if (err !== undefined) report(this.dispatcher.onError, err, `connection ${this.peer}`);
    this.abortAll(err ?? new ConnectionClosedError(`the caller ${this.peer} is gone`, { endpoint: this.peer }));
    this.dispatcher.remove(this);
    const done = this.onDrained;
    this.onDrained = undefined;
    done?.();
  }
}
