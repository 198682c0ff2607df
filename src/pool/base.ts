/**
 * What the watermark, singleton and pipeline pools share: the waiter queue (with its single
 * admission point), the connect gate, and the close lifecycle. A pool keeps its own hot path
 * (handing a call to a connection) and says how its connections drain (`drain`).
 */
import { idleAware, type IdleAwareConnection } from './idle.js';
import { ClosedError, InvalidArgumentError, OverloadedError, stackless, TimeoutError, type ScalesError } from '../core/errors.js';
import { callByDispatch } from '../core/dispatch.js';
import type { CallContext, ReplyHandler, Service, Status } from '../core/service.js';
import type { Backoff } from '../resilience/backoff.js';
import { ConnectGate } from './gate.js';
import { DEFAULT_CLOSE_GRACE_MS, defaultConnectBackoff, type PooledConnection } from './types.js';
import { lifoAfterMs, ServiceTime, type AdmissionOptions } from './admission.js';
import { WaiterQueue, type Waiter } from './waiters.js';

export interface PoolBaseConfig {
  maxWaiters: number;
  /** Longest wait for a connection in ms (Infinity: the call's deadline only). */
  waitTimeout: number;
  backoff: Backoff | undefined;
  closeGrace: number | undefined;
  endpoint: string | undefined;
  /** What is closed, in error messages: 'connection pool', 'connection'. */
  name: string;
  /** What a waiter waits for, in error messages: 'a connection', 'the connection'. */
  target: string;
  /** Appended to overload messages, e.g. ', highWatermark 8'. */
  limits?: string;
  /**
   * Admission under overload (admission.ts). Given: the queue serves its newest waiter first once
   * it stands, and refuses waiters that cannot finish in time (the pool reports how long calls
   * keep a connection through `serviceTime`). Absent: oldest first.
   */
  admission?: AdmissionOptions;
}

export abstract class PoolBase<Req, Rep> implements Service<Req, Rep> {
  protected readonly endpoint: string | undefined;
  protected readonly gate: ConnectGate;
  protected readonly queue: WaiterQueue<Req, Rep>;
  protected readonly maxWaiters: number;
  protected readonly closeGrace: number;
  /** How long calls keep a connection, when the pool admits by it (see PoolBaseConfig.admission). */
  protected readonly serviceTime: ServiceTime | undefined;
  /** close() was called: no call is taken any more. */
  protected closed = false;
  private closing: Promise<void> | undefined = undefined;
  private readonly name: string;
  private readonly target: string;
  private readonly limits: string;

  constructor(cfg: PoolBaseConfig) {
    this.endpoint = cfg.endpoint;
    this.maxWaiters = cfg.maxWaiters;
    this.closeGrace = ms('closeGrace', cfg.closeGrace ?? DEFAULT_CLOSE_GRACE_MS);
    this.name = cfg.name;
    this.target = cfg.target;
    this.limits = cfg.limits ?? '';
    this.gate = new ConnectGate(cfg.backoff ?? defaultConnectBackoff(), cfg.endpoint);
    const waitTimeout = cfg.waitTimeout;
    const a = cfg.admission;
    this.serviceTime = a !== undefined && a.shedHopeless !== false ? new ServiceTime() : undefined;
    const admission = a === undefined ? undefined : { lifoAfter: lifoAfterMs(a), serviceTime: this.serviceTime };
    this.queue = new WaiterQueue<Req, Rep>(waitTimeout, (w, shed) => this.waitEnded(w, waitTimeout, shed), admission);
  }

  abstract get status(): Status;

  abstract dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void;

  call(req: Req, ctx: CallContext): Promise<Rep> {
    return callByDispatch(this, req, ctx);
  }

  /** Calls waiting for a connection. */
  get waiters(): number {
    return this.queue.size;
  }

  /**
   * Stops taking calls, fails the waiters (ClosedError, unwritten), lets in-flight calls finish
   * for up to `graceMs`, closing each connection gracefully as soon as it is idle, and cuts what
   * still runs at the end of the grace. Resolves once every connection is closed.
   */
  close(graceMs: number = this.closeGrace): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    // Connections leave service first (synchronously), so a caller that a failed waiter's
    // handler runs cannot reach one.
    this.closing = this.drain(graceMs > 0 ? graceMs : 0);
    this.queue.failAll(this.closedError());
    return this.closing;
  }

  /** Takes every connection out of service at once, then closes them as `close()` describes. */
  protected abstract drain(graceMs: number): Promise<void>;

  /**
   * Queues a call for a connection, unless `limit` calls already wait (OverloadedError, unsent).
   * Returns false when the call was failed instead.
   */
  protected enqueue(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>, limit: number): boolean {
    const n = this.queue.size;
    if (n >= limit) {
      this.refuse(
        handler,
        stackless(() => new OverloadedError(`${n} calls already wait for ${this.target}${this.where()} (maxWaiters ${this.maxWaiters}${this.limits})`, { endpoint: this.endpoint, local: true })),
      );
      return false;
    }
    this.queue.add(req, ctx, handler);
    return true;
  }

  /**
   * Refusals reach their callers in the next check phase, after the write flushes already
   * scheduled: a burst that overflows the queue otherwise runs every refused caller's error path
   * (and its retries) before the calls that were admitted leave (2000 calls: ~10 ms here).
   */
  private refuse(handler: ReplyHandler<Rep>, err: ScalesError): void {
    if (this.refusals.length === 0) setImmediate(this.deliverRefusals);
    this.refusals.push(handler, err);
  }

  private readonly refusals: (ReplyHandler<Rep> | ScalesError)[] = [];
  private readonly deliverRefusals = (): void => {
    const batch = this.refusals.splice(0);
    for (let i = 0; i < batch.length; i += 2) (batch[i] as ReplyHandler<Rep>).onError(batch[i + 1]);
  };

  /** Hands waiters to `send` while it takes them (through the queue's admission point). */
  protected serveWaiters(send: (w: Waiter<Req, Rep>) => void): void {
    for (let w = this.queue.take(); w !== undefined; w = this.queue.take()) send(w);
  }

  /**
   * A connect succeeded: the gate resets; a pool closed meanwhile closes the connection (and
   * returns undefined), else it is returned ready for service (its idleness tracked for drain).
   */
  protected adopt(conn: PooledConnection<Req, Rep>): IdleAwareConnection<Req, Rep> | undefined {
    this.gate.succeeded();
    if (this.closed) {
      conn.close().catch(() => undefined);
      return undefined;
    }
    return idleAware(conn);
  }

  protected closedError(): ClosedError {
    return new ClosedError(`${this.name}${this.where()} is closed`, { endpoint: this.endpoint, unwritten: true });
  }

  protected where(): string {
    return this.endpoint === undefined ? '' : ` to ${this.endpoint}`;
  }

  private waitEnded(w: Waiter<unknown, unknown>, waitTimeout: number, shed: { leftMs: number; takesMs: number } | undefined): ScalesError {
    const local = { endpoint: this.endpoint, unwritten: true, local: true };
    if (shed !== undefined) {
      const message = `${w.ctx.method}: refused while waiting for ${this.target}${this.where()}: ${Math.round(shed.leftMs)} ms left before its deadline, calls there take ~${Math.round(shed.takesMs)} ms`;
      return stackless(() => new OverloadedError(message, local));
    }
    if (w.byDeadline) return new TimeoutError(`${w.ctx.method}: deadline passed while waiting for ${this.target}${this.where()}`, local);
    return new OverloadedError(`no connection${this.where()} became free within ${waitTimeout} ms${this.limits === '' ? '' : ` (${this.limits.slice(2)})`}`, local);
  }
}

/** An integer option >= `min`. */
export function count(name: string, v: number, min: number): number {
  if (!(Number.isInteger(v) && v >= min)) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

/** A duration option in ms (>= 0; Infinity allowed). */
export function ms(name: string, v: number): number {
  if (!(v >= 0)) throw new InvalidArgumentError(`${name} must be a number of ms >= 0, got ${String(v)}`);
  return v;
}
