/**
 * The client's failure detector, after Finagle's ThresholdFailureDetector: a Tping on the control
 * tag every `intervalMs`, one outstanding at a time. A ping outstanding longer than `threshold` ×
 * the slowest of the last 100 round trips (never less than MIN_BUSY_AFTER_MS) marks the session
 * 'busy' — the balancer sends new calls elsewhere while another node is open — and its Rping
 * marks it open again. No Rping within `timeoutMs` closes the session (its calls fail, the pool
 * opens a new one). Unlike Finagle, a new session starts open: the handshake has just shown the
 * peer alive, and starting busy would steer a fresh client's first calls away from its only node.
 */
import { ConnectionClosedError } from '../../core/errors.js';
import type { Connection } from '../../transport/index.js';
import { writeSimple } from './client-codec.js';
import { CONTROL_TAG, MuxType } from './types.js';

export const DEFAULT_PING_INTERVAL_MS = 5000;
export const DEFAULT_PING_TIMEOUT_MS = 4000;
/** Finagle's threshold: busy once a ping takes twice the slowest recent round trip. */
export const BUSY_THRESHOLD = 2;
/** Round trips remembered for the threshold (Finagle's window). */
const RTT_WINDOW = 100;
/** Loopback round trips are tens of µs: without a floor, one GC pause or a busy event loop on our
 *  own side would mark a healthy session busy. */
export const MIN_BUSY_AFTER_MS = 10;

/** The largest of the last `size` values, amortised O(1) per add. */
export class WindowedMax {
  private readonly values: Float64Array;
  private at = 0;
  private max = 0;

  constructor(size: number) {
    this.values = new Float64Array(size);
  }

  add(v: number): void {
    const evicted = this.values[this.at]!;
    this.values[this.at] = v;
    this.at = (this.at + 1) % this.values.length;
    if (v >= this.max) this.max = v;
    else if (evicted === this.max) {
      let m = 0;
      for (const x of this.values) if (x > m) m = x;
      this.max = m;
    }
  }

  get value(): number {
    return this.max;
  }
}

export class Pinger {
  private outstanding = false;
  private readonly interval: NodeJS.Timeout;
  private deadline: NodeJS.Timeout | undefined = undefined;
  private sentAt = 0;
  private busyAfterMs = MIN_BUSY_AFTER_MS;
  private readonly rtts = new WindowedMax(RTT_WINDOW);
  /** Pings answered later than the busy threshold (the session was busy meanwhile). */
  latePings = 0;

  constructor(
    private readonly conn: Connection,
    intervalMs: number,
    private readonly timeoutMs: number,
  ) {
    this.interval = setInterval(() => this.ping(), intervalMs);
    this.interval.unref();
  }

  /** True while a ping is outstanding past the busy threshold: read on every pick, so no timer. */
  get busy(): boolean {
    return this.outstanding && performance.now() - this.sentAt > this.busyAfterMs;
  }

  /** An Rping arrived. */
  pong(): void {
    if (!this.outstanding) return; // an unsolicited Rping tells nothing about our ping
    const rtt = performance.now() - this.sentAt;
    if (rtt > this.busyAfterMs) this.latePings++;
    this.rtts.add(rtt);
    this.outstanding = false;
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.deadline = undefined;
  }

  stop(): void {
    clearInterval(this.interval);
    if (this.deadline !== undefined) clearTimeout(this.deadline);
  }

  private ping(): void {
    const conn = this.conn;
    if (this.outstanding || conn.closing) return;
    this.outstanding = true;
    this.sentAt = performance.now();
    this.busyAfterMs = Math.max(MIN_BUSY_AFTER_MS, BUSY_THRESHOLD * this.rtts.value);
    try {
      writeSimple(conn, MuxType.Tping, CONTROL_TAG);
    } catch {
      return; // the connection refused it (closing, overloaded): its own error ends it
    }
    this.deadline = setTimeout(() => {
      conn.close(new ConnectionClosedError(`no Rping from ${conn.endpoint} within ${this.timeoutMs} ms: session presumed dead`, { endpoint: conn.endpoint }));
    }, this.timeoutMs);
    this.deadline.unref();
  }
}
