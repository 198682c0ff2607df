/**
 * The client's end of a ZeroRPC stream: an async iterator over the STREAM items, with credit
 * granted exactly as zerorpc-python's BufferedChannel does (queue of 100): nothing after the first
 * item, `_zpc_more [100]` when the second is asked for, then `[100 - reserved]` whenever fewer
 * than 50 slots remain reserved. Grants happen when the consumer asks for an item, so a slow
 * consumer makes the server wait instead of buffering. Unlike Python, nothing is granted once the
 * stream's end arrived (a grant racing a channel's close can hang a Python server, #61).
 */
import { CancelledError, ProtocolError, type ScalesError } from '../../core/errors.js';

/** zerorpc-python's receive queue: the credit a stream grants at most. */
export const STREAM_QUEUE = 100;

interface Waiter<T> {
  resolve(r: IteratorResult<T>): void;
  reject(err: unknown): void;
}

export interface StreamControl {
  /** Sends `_zpc_more [n]`. */
  grant(n: number): void;
  /** The consumer stopped early (return, abort): forget the channel, stop its heartbeat. */
  cancel(reason: ScalesError): void;
}

export class ZeroStream<T = unknown> implements AsyncIterableIterator<T> {
  private items: unknown[] = [];
  private head = 0;
  /** The end arrived (STREAM_DONE, ERR, lost remote) or the consumer stopped. */
  private ended = false;
  private error: unknown = undefined;
  private waiter: Waiter<T> | undefined = undefined;
  /** Events the server may still send (its credit as we granted it): the free first one. */
  private reserved = 1;
  private asked = false;
  private readonly onAbort: (() => void) | undefined;

  constructor(
    private readonly control: StreamControl,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal !== undefined) {
      this.onAbort = () => this.stop(new CancelledError('stream cancelled', { cause: signal.reason }));
      if (signal.aborted) queueMicrotask(this.onAbort);
      else signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /** Items received and not yet taken. */
  get buffered(): number {
    return this.items.length - this.head;
  }

  /** @internal one STREAM item arrived */
  push(item: unknown): void {
    if (this.ended) return;
    if (this.buffered >= STREAM_QUEUE) {
      // More than the credit we granted: the sender ignores flow control.
      const err = new ProtocolError(`stream sent more than the ${STREAM_QUEUE} items of credit granted`);
      this.stop(err);
      return;
    }
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      this.reserved--;
      w.resolve({ value: item as T, done: false });
      return;
    }
    this.items.push(item);
  }

  /** @internal the stream ended (`err`: ERR or a lost remote) */
  finish(err?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = err;
    this.unlisten();
    const w = this.waiter;
    if (w !== undefined && this.buffered === 0) {
      this.waiter = undefined;
      if (err === undefined) w.resolve({ value: undefined, done: true });
      else w.reject(err);
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (!this.ended) {
      // zerorpc-python's BufferedChannel.recv: ask for more before taking one.
      if (!this.asked) this.asked = true;
      else if (this.reserved < STREAM_QUEUE / 2) {
        const n = STREAM_QUEUE - this.reserved;
        this.reserved += n;
        this.control.grant(n);
      }
    }
    if (this.head < this.items.length) {
      const value = this.items[this.head] as T;
      this.items[this.head++] = undefined;
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
      }
      this.reserved--;
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return this.error === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(this.error);
    if (this.waiter !== undefined) return Promise.reject(new ProtocolError('ZeroStream.next called again before the previous item arrived'));
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Stops early (a `break` out of `for await`): the channel is dropped and no more credit is granted. */
  return(): Promise<IteratorResult<T>> {
    this.stop(undefined);
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Every remaining item as an array (for small streams). */
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for await (const x of this) out.push(x);
    return out;
  }

  private stop(err: ScalesError | undefined): void {
    if (this.ended) return;
    this.items = [];
    this.head = 0;
    this.finish(err);
    this.control.cancel(err ?? new CancelledError('stream closed by its consumer'));
  }

  private unlisten(): void {
    if (this.onAbort !== undefined) this.signal!.removeEventListener('abort', this.onAbort);
  }
}
