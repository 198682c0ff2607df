/**
 * The one way a pool's `close(grace)` ends its connections: each one is closed gracefully as
 * soon as it has no call in flight, and cut (`abort`) when the grace period ends first. Event
 * driven: a connection's `whenIdle()` (or the pool's own count) and one timer per close.
 */
import { MAX_TIMER_MS } from '../core/clock.js';
import type { IdleAwareConnection } from './idle.js';

/** The grace period of one `close()`: `over` resolves when it ends. One timer, cleared by `end()`. */
export class Grace {
  readonly over: Promise<void>;
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(ms: number) {
    // A grace beyond a timer's reach (or Infinity) never ends: calls get all the time they need.
    this.over = new Promise((resolve) => {
      if (ms < MAX_TIMER_MS) this.timer = setTimeout(resolve, ms);
    });
  }

  /** Drained before the end: the timer must not keep the process alive. */
  end(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Resolves with `idle` or at the end of the grace, whichever is first. */
export function idleOrGrace(idle: Promise<void>, grace: Grace): Promise<void> {
  return Promise.race([idle.catch(() => undefined), grace.over]);
}

/** Closes `conn` once it is idle, or cuts it when the grace ends with calls still on it. */
export async function drainConnection<Req, Rep>(conn: IdleAwareConnection<Req, Rep>, grace: Grace): Promise<void> {
  if (conn.status !== 'closed' && conn.load > 0) await idleOrGrace(conn.whenIdle(), grace);
  // Cut: fails the calls still running at once instead of waiting for them.
  if (conn.status !== 'closed' && conn.load > 0 && conn.abort !== undefined) conn.abort();
  else await conn.close().catch(() => undefined);
}

/** Drains every connection in parallel within one grace period of `graceMs`. */
export async function drainConnections<Req, Rep>(conns: readonly IdleAwareConnection<Req, Rep>[], graceMs: number): Promise<void> {
  if (conns.length === 0) return;
  const grace = new Grace(graceMs);
  try {
    await Promise.all(conns.map((c) => drainConnection(c, grace)));
  } finally {
    grace.end();
  }
}
