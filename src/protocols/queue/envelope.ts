/**
 * The queue message: a body and a few attributes, the same on every broker.
 *
 * Body: one whole Thrift message in the binary protocol (strict header: version, type, name,
 * seqid 0, then the `<method>_args` struct), type ONEWAY for `oneway` methods and CALL for `void`
 * ones — exactly what `TBinaryProtocol.writeMessageBegin` + `args.write` + `writeMessageEnd`
 * produce in Apache Thrift's Python and Java libraries, so their producers can fill the queue.
 *
 * Attributes travel beside the body (SQS message attributes, Redis stream fields; names in
 * ATTRIBUTE_NAMES) so a consumer can route, expire or dead-letter a message without decoding it.
 */
import { InvalidArgumentError } from '../../core/errors.js';

/** What a queue message says about its call. */
export interface MessageAttributes {
  /** The Thrift method name (also in the body's header; the consumer checks they agree). */
  readonly method: string;
  /** Correlates the call with the request that made it (propagated to the calls the handler makes). */
  readonly traceId: string | undefined;
  /** Absolute `Date.now()` ms after which the call is not worth running: dead-lettered, reason `deadline-expired`. */
  readonly deadline: number | undefined;
  /**
   * Explicit attempts before this copy of the message (1 when first sent; a retry re-sends the
   * message with attempt + 1). A broker redelivery after a crash is counted by the broker
   * (`ReceivedMessage.deliveryCount`), see `attemptOf`.
   */
  readonly attempt: number;
  /** Stable across retries and redeliveries of one call: handlers de-duplicate on it. */
  readonly idempotencyKey: string;
  /** Body format; 'thrift-binary' is the only one today (msgpack for ZeroRPC-style services later). */
  readonly contentType: ContentType;
}

export type ContentType = 'thrift-binary';
export const CONTENT_TYPES: readonly ContentType[] = ['thrift-binary'];

/** A message ready to send. */
export interface OutgoingMessage {
  readonly body: Buffer;
  readonly attributes: MessageAttributes;
}

/**
 * A message as a backend received it. `handle` is the backend's own (SQS receipt handle, Redis
 * entry id); only the backend that made it reads it.
 */
export interface ReceivedMessage {
  /** Broker-assigned id (SQS MessageId, Redis entry id), for logs and the dead-letter record. */
  readonly id: string;
  /** The raw body (SQS: the base64 decoded). Undefined when the broker's copy was not decodable. */
  readonly body: Buffer | undefined;
  /**
   * The attributes, or a string saying why they could not be read (missing method, bad number):
   * such a message is dead-lettered with reason `bad-attributes`.
   */
  readonly attributes: MessageAttributes | string;
  /** Times the broker has handed out this copy (1 on first delivery; SQS ApproximateReceiveCount, Redis PEL delivery count). */
  readonly deliveryCount: number;
  /**
   * The attempt this delivery is, when the backend counts attempts itself and the broker's
   * redeliveries are not attempts (NATS: a broker crash cuts deliveries off); see `attemptOf`.
   */
  readonly attempt?: number;
  /** Size of the body as the broker stored it (before base64 decoding), bytes. */
  readonly size: number;
  readonly handle: unknown;
}

/** The attempt a delivery is: the backend's own count, else explicit retries plus broker redeliveries of this copy. */
export function attemptOf(m: ReceivedMessage): number {
  if (m.attempt !== undefined) return m.attempt;
  const explicit = typeof m.attributes === 'string' ? 1 : m.attributes.attempt;
  return explicit + Math.max(0, m.deliveryCount - 1);
}

/**
 * Wire names of the attributes. SQS: String/Number message attributes of these names (SQS allows
 * at most 10 per message: we use 6). Redis: stream fields of these names, the body in field `body`.
 */
export const ATTRIBUTE_NAMES = {
  method: 'scales.method',
  traceId: 'scales.trace',
  deadline: 'scales.deadline',
  attempt: 'scales.attempt',
  idempotencyKey: 'scales.idem',
  contentType: 'scales.ct',
} as const;

/** Why a message went to the dead-letter queue (the record's `scales.reason`, and `scales.detail` in words). */
export type DeadLetterReason =
  | 'max-attempts' // the handler failed on every one of maxAttempts tries
  | 'max-deliveries' // handed out maxDeliveries times without an outcome (its consumers died on it)
  | 'deadline-expired' // received after its deadline
  | 'not-thrift' // the body is not a Thrift binary message
  | 'truncated' // the body ends inside the message
  | 'too-large' // the body is over maxBodyBytes
  | 'unknown-method' // the service has no such method
  | 'not-oneway' // the method returns a value (a queue cannot carry the answer)
  | 'rejected' // the handler threw one of the method's declared (IDL) exceptions: final, not retried
  | 'bad-attributes'; // attributes missing or unreadable, or disagreeing with the body

/** Flat string form of the attributes: the Redis fields, and the source of the SQS attributes. */
export function attributeFields(a: MessageAttributes): [string, string][] {
  const out: [string, string][] = [
    [ATTRIBUTE_NAMES.method, a.method],
    [ATTRIBUTE_NAMES.attempt, String(a.attempt)],
    [ATTRIBUTE_NAMES.idempotencyKey, a.idempotencyKey],
    [ATTRIBUTE_NAMES.contentType, a.contentType],
  ];
  if (a.traceId !== undefined) out.push([ATTRIBUTE_NAMES.traceId, a.traceId]);
  if (a.deadline !== undefined) out.push([ATTRIBUTE_NAMES.deadline, String(a.deadline)]);
  return out;
}

/** Reads attributes from their string form; a string saying what is wrong when they do not parse. */
export function parseAttributes(get: (name: string) => string | undefined): MessageAttributes | string {
  const method = get(ATTRIBUTE_NAMES.method);
  if (method === undefined || method === '') return `no ${ATTRIBUTE_NAMES.method} attribute`;
  const attemptText = get(ATTRIBUTE_NAMES.attempt) ?? '1';
  const attempt = Number(attemptText);
  if (!Number.isInteger(attempt) || attempt < 1) return `${ATTRIBUTE_NAMES.attempt} is not a positive integer: ${clip(attemptText)}`;
  const deadlineText = get(ATTRIBUTE_NAMES.deadline);
  let deadline: number | undefined;
  if (deadlineText !== undefined && deadlineText !== '') {
    deadline = Number(deadlineText);
    if (!Number.isFinite(deadline)) return `${ATTRIBUTE_NAMES.deadline} is not a number: ${clip(deadlineText)}`;
  }
  const ct = get(ATTRIBUTE_NAMES.contentType) ?? 'thrift-binary';
  if (!(CONTENT_TYPES as readonly string[]).includes(ct)) return `unsupported ${ATTRIBUTE_NAMES.contentType} ${clip(ct)}`;
  return {
    method,
    traceId: get(ATTRIBUTE_NAMES.traceId),
    deadline,
    attempt,
    // A producer that sets none (a plain Python script) still gets a stable key: the broker id is added by the consumer.
    idempotencyKey: get(ATTRIBUTE_NAMES.idempotencyKey) ?? '',
    contentType: ct as ContentType,
  };
}

/** The same message for another attempt. */
export function nextAttempt(a: MessageAttributes, attempt: number): MessageAttributes {
  if (!(attempt >= 1)) throw new InvalidArgumentError(`attempt must be >= 1, got ${attempt}`);
  return { ...a, attempt };
}

export function clip(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
