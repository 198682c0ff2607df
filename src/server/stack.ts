import { Stack } from '../core/stack.js';
import type { StatsScope } from '../stats/registry.js';
import type { ServerRequest } from './codec.js';
import { concurrencyLayer } from './filters/concurrency.js';
import { deadlineLayer } from './filters/deadline.js';
import { errorsLayer, type DeclaredCheck } from './filters/errors.js';
import { handlerLayer, type HandlerFn } from './filters/handler.js';
import { loggingLayer } from './filters/logging.js';
import { serverStatsLayer } from './filters/stats.js';
import type { ErrorHook } from './safe.js';

export type { ServerService } from './filter.js';

export interface ServerStackOptions<Req extends ServerRequest> {
  /** Name shown by describe() for the handler role. */
  serviceName: string;
  /** The user's handler object and its methods by name. */
  target: object;
  methods: ReadonlyMap<string, HandlerFn>;
  stats: StatsScope;
  requestTimeout: number | undefined;
  maxConcurrent: number | undefined;
  /** undefined: logging off. */
  onError: ErrorHook | undefined;
  /** The hook is the default stderr logger (describe() says so). */
  defaultLogger: boolean;
  isDeclared: DeclaredCheck<Req>;
  exposeErrors: boolean;
  propagateContext: boolean;
}

/**
 * The server stack, top (first to see a request) first:
 *   stats → deadline → concurrency → logging → errors → handler
 * stats sees every outcome as the caller does (timeouts and rejections included); the deadline
 * answers at once while the handler may still run; concurrency counts handlers until they really
 * finish (below the deadline); logging sees every crash, late ones too; errors maps what the
 * handler threw into what the codec writes.
 */
export function serverStack<Req extends ServerRequest>(o: ServerStackOptions<Req>): Stack {
  return new Stack([
    serverStatsLayer<Req>(o.stats),
    deadlineLayer<Req>(o.requestTimeout),
    concurrencyLayer<Req>(o.maxConcurrent),
    loggingLayer<Req>(o.onError, o.defaultLogger),
    errorsLayer<Req>(o.isDeclared, o.exposeErrors),
    handlerLayer<Req>(o.serviceName, o.target, o.methods, o.propagateContext),
  ]);
}
