/**
 * The producer's "connection": messages from the client stack are buffered for at most `lingerMs`
 * and sent in batches (a Redis pipeline, an SQS SendMessageBatch), a bounded number of batches
 * at once. Each call resolves when the broker accepted its message, or fails with its own error.
 * The buffer is bounded in messages and bytes: past it a call fails at once with OverloadedError
 * (never unbounded memory while the broker is slow or down).
 */
import { ClosedError, OverloadedError, InvalidArgumentError } from '../../core/errors.js';
import { callByDispatch } from '../../core/dispatch.js';
import type { CallContext, ReplyHandler, Status } from '../../core/service.js';
import type { PooledConnection } from '../../pool/types.js';
import type { QueueBackend } from './backend.js';
import type { OutgoingMessage } from './envelope.js';

export interface ProducerLimits {
  /** Longest a message waits for more to fill its batch, ms (default 1; 0 = the end of the current event-loop turn). */
  readonly lingerMs: number;
  /** Messages waiting to be sent, at most (default 10,000). */
  readonly maxBuffered: number;
  /** Bytes of bodies waiting to be sent, at most (default 64 MiB). */
  readonly maxBufferedBytes: number;
  /** Batches sent at once (default: 8 for Redis pipelines, 32 for SQS's 10-message batches). */
  readonly maxInFlightBatches: number | undefined;
  /** Messages per batch (default: the backend's most, capped at 500). */
  readonly maxBatch: number | undefined;
}

export const DEFAULT_PRODUCER_LIMITS: ProducerLimits = {
  lingerMs: 1,
  maxBuffered: 10_000,
  maxBufferedBytes: 64 * 1024 * 1024,
  maxInFlightBatches: undefined,
  maxBatch: undefined,
};

interface Pending {
  readonly message: OutgoingMessage;
  readonly handler: ReplyHandler<void>;
  readonly ctx: CallContext;
}

export class QueueProducer implements PooledConnection<OutgoingMessage, void> {
  private buffer: Pending[] = [];
  private bufferedBytes = 0;
  private inFlightBatches = 0;
  private inFlightMessages = 0;
  private timer: NodeJS.Timeout | undefined = undefined;
  private immediate: NodeJS.Immediate | undefined = undefined;
  private closing = false;
  private idleWaiters: (() => void)[] = [];
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor(
    readonly backend: QueueBackend,
    private readonly limits: ProducerLimits,
  ) {
    this.maxBatch = Math.max(1, Math.min(limits.maxBatch ?? 500, backend.maxBatch));
    this.maxInFlight = limits.maxInFlightBatches ?? (backend.maxBatch <= 10 ? 32 : 8);
  }

  get status(): Status {
    if (this.closing) return 'closed';
    return this.buffer.length >= this.limits.maxBuffered ? 'busy' : 'open';
  }

  get load(): number {
    return this.buffer.length + this.inFlightMessages;
  }

  call(message: OutgoingMessage, ctx: CallContext): Promise<void> {
    return callByDispatch(this, message, ctx);
  }

  dispatch(message: OutgoingMessage, ctx: CallContext, handler: ReplyHandler<void>): void {
    if (this.closing) return handler.onError(new ClosedError(`queue producer for ${this.backend.destination} is closed`, { unwritten: true }));
    const size = message.body.length;
    if (size > this.backend.maxBodyBytes) {
      return handler.onError(new InvalidArgumentError(`message of ${size} bytes is over ${this.backend.kind}'s limit of ${this.backend.maxBodyBytes} bytes`));
    }
    if (this.buffer.length >= this.limits.maxBuffered || this.bufferedBytes + size > this.limits.maxBufferedBytes) {
      return handler.onError(
        new OverloadedError(
          `queue producer buffer full (${this.buffer.length} messages, ${this.bufferedBytes} bytes waiting for ${this.backend.destination}; limits ${this.limits.maxBuffered} / ${this.limits.maxBufferedBytes})`,
          { endpoint: this.backend.destination, local: true },
        ),
      );
    }
    const p: Pending = { message, handler, ctx };
    this.buffer.push(p);
    this.bufferedBytes += size;
    // A call cancelled (timeout, abort) while still buffered is taken out: it is never sent.
    ctx.onCancel(() => this.drop(p));
    this.schedule();
  }

  private drop(p: Pending): void {
    const i = this.buffer.indexOf(p);
    if (i < 0) return; // already sent: the broker's answer decides
    this.buffer.splice(i, 1);
    this.bufferedBytes -= p.message.body.length;
    this.notifyIdle();
  }

  private schedule(): void {
    if (this.inFlightBatches >= this.maxInFlight) return; // a batch ending flushes again
    if (this.buffer.length >= this.maxBatch) {
      this.flush();
      return;
    }
    if (this.timer !== undefined || this.immediate !== undefined) return;
    if (this.limits.lingerMs <= 0) this.immediate = setImmediate(() => this.flush());
    else this.timer = setTimeout(() => this.flush(), this.limits.lingerMs);
  }

  private flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    while (this.buffer.length > 0 && this.inFlightBatches < this.maxInFlight) {
      const batch = this.buffer.splice(0, this.maxBatch);
      for (const p of batch) {
        this.bufferedBytes -= p.message.body.length;
        p.ctx.onCancel(undefined);
      }
      this.sendBatch(batch);
    }
  }

  private sendBatch(batch: Pending[]): void {
    this.inFlightBatches++;
    this.inFlightMessages += batch.length;
    const done = (): void => {
      this.inFlightBatches--;
      this.inFlightMessages -= batch.length;
      if (this.buffer.length > 0) this.schedule();
      this.notifyIdle();
    };
    this.backend.send(batch.map((p) => p.message)).then(
      (results) => {
        done();
        for (let i = 0; i < batch.length; i++) {
          const err = results[i];
          if (err === undefined) batch[i]!.handler.onReply(undefined);
          else batch[i]!.handler.onError(err);
        }
      },
      (err: unknown) => {
        done();
        for (const p of batch) p.handler.onError(err);
      },
    );
  }

  private notifyIdle(): void {
    if (this.load > 0 || this.idleWaiters.length === 0) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  whenIdle(): Promise<void> {
    if (this.load === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Sends what is buffered, waits for the broker's answers, then closes the broker connection. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.flush();
    await this.whenIdle();
    await this.backend.close();
  }
}
