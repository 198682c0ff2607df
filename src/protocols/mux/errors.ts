import { OverloadedError, ScalesError, type ScalesErrorOptions } from '../../core/errors.js';

/**
 * The server refused the call without running it (Rdispatch NACK: at its concurrency limit, or
 * draining). Safe to send elsewhere whatever the method: the Mux classifier calls it `retryable`.
 */
export class MuxNackError extends OverloadedError {
  constructor(message = 'the server refused the call without running it (mux NACK)', options?: ScalesErrorOptions) {
    super(message, options);
  }
}

/** The server answered a call with a failure of its own (Rdispatch ERROR, or Rerr on the call's tag). */
export class MuxServerError extends ScalesError {
  constructor(message: string, options?: ScalesErrorOptions) {
    super('SCALES_ERR_APPLICATION', message, options);
  }
}
