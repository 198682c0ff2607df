/**
 * What an outcome means for the node (failure accrual) and for the caller (retries, hedging).
 *
 * A resolved reply is a success by definition; only rejections need classifying. `classify`:
 *
 * | rejection                                   | class     | why                                      |
 * |---------------------------------------------|-----------|------------------------------------------|
 * | declared Thrift exception (ThriftException) | success   | the server answered, as the IDL says     |
 * | ThriftApplicationError                      | failure   | the server failed outside the IDL        |
 * | ScalesError SCALES_ERR_CANCELLED            | ignored   | the caller gave up: not the node's fault |
 * | any other ScalesError (timeout, closed...)  | failure   |                                          |
 * | anything else (a bug, a foreign error)      | failure   |                                          |
 *
 * `isRetryable(err, idempotent)` — may the same request be sent again?
 *
 * | rejection                                        | idempotent | not idempotent |
 * |--------------------------------------------------|------------|----------------|
 * | SCALES_ERR_TIMEOUT, SCALES_ERR_CANCELLED         | no         | no             |
 * | `unwritten === true` (connect, overloaded, no    | yes        | yes            |
 * |   nodes, node unavailable...)                    |            |                |
 * | SCALES_ERR_CONNECTION_CLOSED, SCALES_ERR_PROTOCOL| yes        | no             |
 * | everything else (application errors, declared    | no         | no             |
 * |   exceptions, frame too large, closed client...) |            |                |
 *
 * A timeout or a cancel is never retried, even when unwritten: the deadline has passed or the
 * caller is gone, so a retry cannot help anyone. A connection that closed or broke the protocol
 * mid-call may or may not have run the request: only an idempotent call can be sent again.
 * An application error is an answer from the peer (unknown method, handler crash): sending the
 * same request again is not expected to change it.
 */
import { isScalesError } from '../core/errors.js';
import { ThriftApplicationError } from '../protocols/thrift/application-exception.js';
import { MessageType, ThriftException } from '../protocols/thrift/descriptors.js';
import type { ThriftReply } from '../protocols/thrift/messages.js';

export type ResponseClass = 'success' | 'failure' | 'ignored';

/** Classifies a rejection (see the table above). */
export function classify(err: unknown): ResponseClass {
  if (err instanceof ThriftException) return 'success';
  if (err instanceof ThriftApplicationError) return 'failure';
  if (isScalesError(err) && err.code === 'SCALES_ERR_CANCELLED') return 'ignored';
  return 'failure';
}

/** May the request that failed with `err` be sent again? (see the table above) */
export function isRetryable(err: unknown, idempotent: boolean): boolean {
  if (!isScalesError(err)) return false;
  const code = err.code;
  if (code === 'SCALES_ERR_TIMEOUT' || code === 'SCALES_ERR_CANCELLED') return false;
  if (err.unwritten) return true;
  if (code === 'SCALES_ERR_CONNECTION_CLOSED' || code === 'SCALES_ERR_PROTOCOL') return idempotent;
  return false;
}

/** How a layer classifies its outcomes; both parts default to the table above. */
export interface ResponseClassifier<Rep> {
  /** A resolved reply (default: always 'success'). */
  reply?: (rep: Rep) => ResponseClass;
  /** A rejection (default: `classify`). */
  error?: (err: unknown) => ResponseClass;
}

/**
 * For failure accrual below the Thrift serializer, where replies are still raw messages: an
 * EXCEPTION message (TApplicationException) is a failure of the node, a REPLY (which may carry a
 * declared exception) is a success.
 */
export function classifyThriftReply(rep: ThriftReply): ResponseClass {
  return rep.type === MessageType.EXCEPTION ? 'failure' : 'success';
}
