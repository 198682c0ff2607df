import { ConnectionClosedError, ScalesError, type ScalesErrorOptions } from '../../core/errors.js';

/**
 * The remote method raised: ZeroRPC's `ERR [name, message, traceback]`. `remoteName` is the
 * exception's class name as the server sent it (`ValueError`, `NameError` for an unknown method,
 * `TypeError` for a wrong number of arguments), `remoteTraceback` its traceback text ('' when the
 * server sends none).
 */
export class RemoteError extends ScalesError {
  constructor(
    readonly remoteName: string,
    readonly remoteMessage: string,
    readonly remoteTraceback: string,
    options?: ScalesErrorOptions,
  ) {
    super('SCALES_ERR_APPLICATION', `${remoteName}: ${remoteMessage}`, options);
  }
}

/** The remote sent no heartbeat on a channel for more than twice the heartbeat interval. */
export class LostRemoteError extends ConnectionClosedError {
  constructor(heartbeatMs: number, options?: ScalesErrorOptions) {
    super(`Lost remote after ${formatSeconds((heartbeatMs * 2) / 1000)}s heartbeat`, options);
  }
}

function formatSeconds(s: number): string {
  return Number.isInteger(s) ? String(s) : s.toFixed(3).replace(/0+$/, '');
}
