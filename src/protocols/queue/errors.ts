/**
 * Broker failures as Scales errors, so callers switch on the codes they already know:
 *   the broker cannot be reached (refused, DNS, down)        ConnectError            SCALES_ERR_CONNECT  (unwritten: nothing sent)
 *   the connection broke with the request sent              ConnectionClosedError   SCALES_ERR_CONNECTION_CLOSED (may or may not be accepted)
 *   the broker refused for load (throttled, OOM, buffer full) OverloadedError         SCALES_ERR_OVERLOADED (unwritten)
 *   no answer in time                                       TimeoutError            SCALES_ERR_TIMEOUT
 *   the request was wrong (no such queue, auth, too large)  InvalidArgumentError    SCALES_ERR_INVALID_ARGUMENT
 * Each carries the broker's own error as `cause` and names the broker in `endpoint`.
 */
import { ClosedError, ConnectError, ConnectionClosedError, InvalidArgumentError, OverloadedError, type ScalesError, TimeoutError, isScalesError } from '../../core/errors.js';

export type BrokerFailure = 'unreachable' | 'broken' | 'overloaded' | 'timeout' | 'rejected' | 'closed';

export function brokerError(kind: BrokerFailure, message: string, endpoint: string, cause?: unknown): ScalesError {
  const o = { endpoint, cause };
  switch (kind) {
    case 'unreachable':
      return new ConnectError(message, o);
    case 'broken':
      return new ConnectionClosedError(message, o);
    case 'overloaded':
      return new OverloadedError(message, o);
    case 'timeout':
      return new TimeoutError(message, o);
    case 'closed':
      return new ClosedError(message, o);
    default:
      return new InvalidArgumentError(message, { ...o, unwritten: true });
  }
}

/** A ScalesError as is; anything else as a broker failure of `kind`. */
export function asBrokerError(err: unknown, kind: BrokerFailure, what: string, endpoint: string): ScalesError {
  if (isScalesError(err)) return err;
  const m = (err as Error | undefined)?.message ?? String(err);
  return brokerError(kind, `${what}: ${m}`, endpoint, err);
}
