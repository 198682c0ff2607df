/**
 * The client's failure detector (Finagle's ThresholdFailureDetector, simplified as in the wire
 * notes): a Tping on the control tag every `intervalMs`, one outstanding at a time; no Rping
 * within `timeoutMs` closes the session (its calls fail, the pool opens a new one). A peer that
 * is alive but slow to read costs nothing here: a ping is a few bytes behind whatever is queued.
 */
import { ConnectionClosedError } from '../../core/errors.js';
import type { Connection } from '../../transport/index.js';
import { writeSimple } from './client-codec.js';
import { CONTROL_TAG, MuxType } from './types.js';

export const DEFAULT_PING_INTERVAL_MS = 5000;
export const DEFAULT_PING_TIMEOUT_MS = 4000;

export class Pinger {
  private outstanding = false;
  private readonly interval: NodeJS.Timeout;
  private deadline: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly conn: Connection,
    intervalMs: number,
    private readonly timeoutMs: number,
  ) {
    this.interval = setInterval(() => this.ping(), intervalMs);
    this.interval.unref();
  }

  /** An Rping arrived. */
  pong(): void {
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
