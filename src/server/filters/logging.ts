import { ScalesError } from '../../core/errors.js';
import { defaultLogger, safeLog, type LogLevel, type Logger } from '../../core/logger.js';
import type { ReplyHandler } from '../../core/service.js';
import type { ServerRequest } from '../codec.js';
import type { ServerRequestContext } from '../context.js';
import { ServerFilter, serverLayer, type ServerService } from '../filter.js';
import { isInstance, report, type ErrorHook } from '../safe.js';

/**
 * An `onError` hook writing to `logger` (default: the process-wide default logger, see
 * core/logger.ts), each event at its level and under its kind (the rate limit's key): handler
 * crashes are errors; protocol mismatches, oversized frames and connections closed by a limit
 * are warnings; a peer that went away is debug.
 */
export function loggerHook(logger?: Logger): ErrorHook {
  return (err, where) => {
    const { level, kind } = serverEvent(err, where);
    const endpoint = isInstance(err, ScalesError) ? err.endpoint : undefined;
    safeLog(logger ?? defaultLogger(), level, { err, kind, where, endpoint }, `server ${where}`);
  };
}

function serverEvent(err: unknown, where: string): { level: LogLevel; kind: string } {
  if (where.startsWith('handler') || where.startsWith('oneway') || where.startsWith('server stack')) return { level: 'error', kind: 'handler' };
  if (!isInstance(err, ScalesError)) return { level: 'warn', kind: 'server' };
  switch (err.code) {
    case 'SCALES_ERR_PROTOCOL':
    case 'SCALES_ERR_FRAME_TOO_LARGE':
      return { level: 'warn', kind: 'protocol' };
    case 'SCALES_ERR_TIMEOUT': // the read timeout (a slow sender)
    case 'SCALES_ERR_OVERLOADED': // the partial-message budget, maxConnections
      return { level: 'warn', kind: 'limits' };
    case 'SCALES_ERR_CONNECTION_CLOSED':
      return { level: 'debug', kind: 'connection' };
    default:
      return { level: 'warn', kind: 'server' };
  }
}

/** The default `onError`: the default logger (one line on stderr per event, rate-limited per kind). */
export const logToStderr: ErrorHook = loggerHook();

/** Reports a handler's crash (what it threw, before mapping) to the hook, once. */
class LogHandler implements ReplyHandler<unknown> {
  constructor(
    private readonly hook: ErrorHook,
    private readonly req: ServerRequest,
    private readonly next: ReplyHandler<unknown>,
  ) {}

  onReply(value: unknown): void {
    this.next.onReply(value);
  }

  onError(err: unknown): void {
    // The errors role below turned the crash into an APPLICATION error; the hook gets the cause.
    if (isInstance(err, ScalesError) && err.code === 'SCALES_ERR_APPLICATION') {
      report(this.hook, err.cause, `${this.req.oneway ? 'oneway' : 'handler'} ${this.req.method}`);
    }
    this.next.onError(err);
  }
}

/**
 * Role 'logging': handler crashes go to `onError(err, where)` (declared exceptions are answers,
 * not crashes). It sits below the deadline role, so a crash after the timeout answer is still seen.
 */
export class LoggingFilter<Req extends ServerRequest> extends ServerFilter<Req> {
  constructor(
    below: ServerService<Req>,
    private readonly hook: ErrorHook,
  ) {
    super(below);
  }

  dispatch(req: Req, ctx: ServerRequestContext<Req>, handler: ReplyHandler<unknown>): void {
    this.down.dispatch(req, ctx, new LogHandler(this.hook, req, handler));
  }
}

export function loggingLayer<Req extends ServerRequest>(hook: ErrorHook | undefined, isDefault: boolean) {
  if (hook === undefined) return serverLayer<Req>('logging', 'off (onError: false)', (below) => below);
  return serverLayer<Req>('logging', `handler crashes to ${isDefault ? 'the logger (default: stderr, rate-limited)' : 'onError'}`, (below) => new LoggingFilter(below, hook));
}
