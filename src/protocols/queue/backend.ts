/**
 * One interface every broker adapter implements (backends/redis.ts, backends/sqs.ts, ...). The
 * producer and the consumer know nothing else about a broker: adding one is a file here and a
 * line in `registry.ts`.
 *
 * Semantics every backend keeps (at-least-once, nothing lost):
 * - `send` resolves only for messages the broker has durably accepted, as far as the broker
 *   says so (SQS 200, Redis reply to XADD).
 * - A received message is leased to this consumer for `leaseMs`; if it is neither acked,
 *   retried, dead-lettered nor released in that time (the process died), the broker hands it to
 *   another consumer and its `deliveryCount` goes up.
 * - Every operation that moves a message (retry, deadLetter) puts the new copy in place before
 *   the old one is removed: a crash in between duplicates a message, never loses one.
 */
import type { DeadLetterReason, OutgoingMessage, ReceivedMessage } from './envelope.js';

/** What `stats` reports; a number a broker cannot tell is undefined. */
export interface QueueStats {
  /** Waiting to be received (SQS ApproximateNumberOfMessages; Redis: entries not yet delivered to the group). */
  readonly depth: number | undefined;
  /** Received and not yet acked (SQS ApproximateNumberOfMessagesNotVisible; Redis: the group's pending entries). */
  readonly inFlight: number | undefined;
  /** Waiting for a retry's delay (SQS ApproximateNumberOfMessagesDelayed; Redis: the delay set). */
  readonly delayed: number | undefined;
  /** In the dead-letter queue. */
  readonly deadLettered: number | undefined;
}

/** A message in the dead-letter queue, with why it is there. */
export interface DeadLetter {
  readonly message: ReceivedMessage;
  readonly reason: DeadLetterReason | string;
  readonly detail: string;
}

export interface QueueBackend {
  /** 'redis', 'sqs', ... */
  readonly kind: string;
  /** The destination as given (no credentials), for errors and stats. */
  readonly destination: string;
  /** Most messages one `send` call takes (SQS 10; Redis: any, a pipeline). */
  readonly maxBatch: number;
  /** Largest body the broker takes, bytes, after any encoding the backend does (SQS 256 KiB incl. base64 + attributes). */
  readonly maxBodyBytes: number;

  /**
   * Sends a batch. One result per message, in order: undefined when the broker accepted it, or
   * the error for that message (SQS SendMessageBatch fails entries one by one). Rejects only when
   * the whole batch failed (connection refused, broker down): then no message is known accepted.
   */
  send(messages: readonly OutgoingMessage[]): Promise<(Error | undefined)[]>;

  /**
   * Receives up to `max` messages, waiting up to `waitMs` for the first (long poll); each is
   * leased to this consumer for `leaseMs`. Resolves early, possibly empty, when `signal` aborts.
   * Also hands out messages whose lease expired on a dead consumer (Redis XAUTOCLAIM; SQS does
   * it by itself).
   */
  receive(max: number, waitMs: number, leaseMs: number, signal: AbortSignal): Promise<ReceivedMessage[]>;

  /** Done: removes the messages for good. */
  ack(messages: readonly ReceivedMessage[]): Promise<void>;

  /**
   * Try again later: the message comes back after `delayMs` as attempt `attempt` (a new copy with
   * that attempt attribute; the old one is removed after the new one is in place).
   */
  retry(message: ReceivedMessage, attempt: number, delayMs: number): Promise<void>;

  /** Keeps the messages leased for another `leaseMs` from now (long handlers). */
  extend(messages: readonly ReceivedMessage[], leaseMs: number): Promise<void>;

  /**
   * Gives the messages back at once, no attempt counted where the broker allows it (graceful
   * stop: received but not started). SQS counts the receive anyway.
   */
  release(messages: readonly ReceivedMessage[]): Promise<void>;

  /** Moves the message to the dead-letter queue with the reason, then removes it. */
  deadLetter(message: ReceivedMessage, reason: DeadLetterReason, detail: string): Promise<void>;

  /** Depth, in flight, delayed, dead-lettered. */
  stats(): Promise<QueueStats>;

  /**
   * Up to `max` messages without consuming them: they stay where they are and as visible as they
   * were (SQS: received with visibility 0, so the receive count goes up by one; Redis: XRANGE).
   * `from: 'dead'` reads the dead-letter queue.
   */
  peek(max: number, from?: 'queue' | 'dead'): Promise<DeadLetter[] | ReceivedMessage[]>;

  /** Deletes every message of the queue (or the dead-letter queue). Returns how many, when known. */
  purge(which: 'queue' | 'dead'): Promise<number | undefined>;

  /** Closes the broker connections; pending operations fail with ClosedError. */
  close(): Promise<void>;
}

/** What opening a backend needs beyond its destination. */
export interface BackendOptions {
  /**
   * Consumer group / subscription name (Redis streams: the group; one group per service gives
   * every service its own copy of each message). Default 'scales'.
   */
  readonly group?: string;
  /** This consumer's name inside the group (default `<hostname>-<pid>-<random>`). */
  readonly consumer?: string;
  /** Create the queue / stream / group when missing (default true). */
  readonly create?: boolean;
  /** Where dead letters go (default: the queue's name + DEAD_LETTER_SUFFIX). */
  readonly deadLetter?: string;
}

/** The dead-letter queue's name when none is given: `orders` → `orders-dlq` (SQS), `orders:dlq` (Redis). */
export const DEAD_LETTER_SUFFIX = { sqs: '-dlq', redis: ':dlq' } as const;

/** Opens a backend for a destination of its scheme. */
export type BackendFactory = (destination: URL, raw: string, options: BackendOptions) => Promise<QueueBackend>;
