/**
 * Per-call values a queue message carries. Set them for the calls made inside a function with
 * `withContextValue(QueueTraceId, 'abc', () => client.notify(...))`; a consumer puts what it
 * received in the handler's context (`receivedValue(ctx, QueueAttempt)`), and the trace id is
 * carried on by the queue calls the handler makes.
 */
import { createContextKey, type ContextKey } from '../../core/context-key.js';

/** Trace id (attribute `scales.trace`). */
export const QueueTraceId: ContextKey<string | undefined> = createContextKey<string | undefined>('queue.trace', undefined, {
  name: 'scales.trace',
  encode: (v) => Buffer.from(v ?? '', 'utf8'),
  decode: (b) => b.toString('utf8'),
});

/** The message's own deadline, absolute `Date.now()` ms (attribute `scales.deadline`); see QueueClientOptions.messageTtl. */
export const QueueDeadline: ContextKey<number | undefined> = createContextKey<number | undefined>('queue.deadline', undefined);

/** Idempotency key of the call (attribute `scales.idem`; default: a random UUID per call). */
export const IdempotencyKey: ContextKey<string | undefined> = createContextKey<string | undefined>('queue.idempotency_key', undefined);

/** On the consumer: which attempt this delivery is (1 = first). */
export const QueueAttempt: ContextKey<number> = createContextKey<number>('queue.attempt', 1);

/** On the consumer: the broker's message id. */
export const QueueMessageId: ContextKey<string | undefined> = createContextKey<string | undefined>('queue.message_id', undefined);
