/**
 * `isRetryable(err, idempotent)` — may the same request be sent again? (What an outcome means
 * for stats and failure accrual is the protocol's ResponseClassifier: core/classify.ts.)
 *
 * | rejection                                        | idempotent | not idempotent |
 * |--------------------------------------------------|------------|----------------|
 * | SCALES_ERR_TIMEOUT, SCALES_ERR_CANCELLED,        | no         | no             |
 * |   SCALES_ERR_INVALID_ARGUMENT                    |            |                |
 * | `unwritten === true` (connect, overloaded, no    | yes        | yes            |
 * |   nodes, node unavailable...)                    |            |                |
 * | SCALES_ERR_CONNECTION_CLOSED, SCALES_ERR_PROTOCOL| yes        | no             |
 * | everything else (application errors, declared    | no         | no             |
 * |   exceptions, frame too large, closed client...) |            |                |
 *
 * A timeout or a cancel is never retried, even when unwritten: the deadline has passed or the
 * caller is gone, so a retry cannot help anyone. Nor a bad argument (unwritten too): the same
 * request would be refused the same way. A connection that closed or broke the protocol
 * mid-call may or may not have run the request: only an idempotent call can be sent again.
 * An application error is an answer from the peer (unknown method, handler crash): sending the
 * same request again is not expected to change it. A failure the protocol's classifier calls
 * `retryable` (refused before any work: NACK) is retried by the retries role whatever this says.
 */
import { isScalesError } from '../core/errors.js';

/** May the request that failed with `err` be sent again? (see the table above) */
export function isRetryable(err: unknown, idempotent: boolean): boolean {
  if (!isScalesError(err)) return false;
  const code = err.code;
  if (code === 'SCALES_ERR_TIMEOUT' || code === 'SCALES_ERR_CANCELLED' || code === 'SCALES_ERR_INVALID_ARGUMENT') return false;
  if (err.unwritten) return true;
  if (code === 'SCALES_ERR_CONNECTION_CLOSED' || code === 'SCALES_ERR_PROTOCOL') return idempotent;
  return false;
}
