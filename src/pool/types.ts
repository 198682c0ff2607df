import type { Service } from '../core/service.js';
import { equalJitterBackoff, type Backoff } from '../resilience/backoff.js';

export { ConnectGate } from './gate.js';

/**
 * What a pool needs of a connection-level service (ThriftSession satisfies it).
 * `status === 'closed'` means the connection is gone for good; `close()` is graceful.
 */
export interface PooledConnection<Req, Rep> extends Service<Req, Rep> {
  /** Calls in flight on this connection. */
  readonly load: number;
  /**
   * Calls abandoned (timeout/cancel) whose late replies are still owed, when the connection
   * counts them apart from `load` (ThriftSession does). A one-call-per-connection pool never
   * reuses a connection while this is > 0. Optional: the pool also sees abandonment itself
   * through the call's context.
   */
  readonly abandoned?: number;
  /**
   * Closes at once, dropping whatever is still owed (late replies of abandoned calls). A pool
   * discarding a connection that an abandoned call poisoned uses it, so the socket does not
   * linger until the late reply arrives. Optional: without it the pool uses `close()`.
   */
  abort?(): void;
  /**
   * Resolves once no call is in flight on the connection (at once when none is). A pool's
   * `close(grace)` waits on it instead of polling `load`. Optional: without it the pool counts
   * the calls it sends the connection itself (one small handler per call).
   */
  whenIdle?(): Promise<void>;
}

/** Opens one connection to the pool's node. Must bound its own time (connect timeout). */
export type Connector<Req, Rep> = () => Promise<PooledConnection<Req, Rep>>;

/** Default reconnect backoff: equal jitter from 100 ms, doubling, capped at 10 s. */
export function defaultConnectBackoff(): Backoff {
  return equalJitterBackoff(100, 10_000);
}

/** Default grace period of `close()`: in-flight calls get this long to finish (ms). */
export const DEFAULT_CLOSE_GRACE_MS = 10_000;
