/**
 * `Thrift.serveMultiplexed({ Users: [UserService, users], Admin: [AdminService, admin] }, options)`:
 * Apache's TMultiplexedProcessor with one `registerProcessor` per entry (and `registerDefault` as
 * `defaultService`), on one port, sharing one server stack: the limits, the deadline and the stats
 * are the server's, and each method is counted as `Service:method`.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import type { MethodDesc, ServiceDesc } from './descriptors.js';
import { checkServiceName, SERVICE_SEPARATOR, ServiceRoutes, type ServiceEntry } from './multiplexed.js';
import { serveThrift, type ThriftServer, type ThriftServerOptions } from './server.js';

export interface MultiplexedServerOptions extends ThriftServerOptions {
  /**
   * The service that answers calls without a `Service:` prefix (TMultiplexedProcessor.registerDefault):
   * plain Thrift clients keep working against a server that became multiplexed. Default: none, and
   * such calls are answered with a PROTOCOL_ERROR TApplicationException.
   */
  defaultService?: string;
}

/** Each entry's handler must fit its service (the same check `Thrift.serve` makes for one). */
export type MultiplexedServices<S> = { [K in keyof S]: S[K] extends readonly [ServiceDesc<unknown, infer H>, unknown] ? readonly [ServiceDesc<unknown, H>, H] : ServiceEntry };

export async function serveMultiplexed<S extends Record<string, ServiceEntry>>(services: S & MultiplexedServices<S>, options: MultiplexedServerOptions = {}): Promise<ThriftServer> {
  if (services === null || typeof services !== 'object') throw new InvalidArgumentError(`services must be an object of [service, handler] entries, got ${String(services)}`);
  const { defaultService, ...serverOptions } = options;
  const descs: Record<string, ServiceDesc> = {};
  // One service for the stack: every method under `Service:method`, with a handler function bound to its own object.
  const methods: Record<string, MethodDesc> = {};
  const handler: Record<string, (...args: unknown[]) => unknown> = {};
  const entries = Object.entries(services as Record<string, ServiceEntry>);
  if (entries.length === 0) throw new InvalidArgumentError('serveMultiplexed needs at least one service');
  for (const [name, entry] of entries) {
    checkServiceName(name, 'a multiplexed service name');
    if (!Array.isArray(entry) || entry.length !== 2) throw new InvalidArgumentError(`services.${name} must be [service, handler], got ${String(entry)}`);
    const [service, target] = entry as unknown as [ServiceDesc, Record<string, unknown>];
    if (service === null || typeof service !== 'object' || typeof service.methods !== 'object') throw new InvalidArgumentError(`services.${name}[0] is not a service descriptor`);
    if (target === null || typeof target !== 'object') throw new InvalidArgumentError(`services.${name}[1] must be the handler object, got ${String(target)}`);
    descs[name] = service;
    for (const method of Object.values(service.methods)) {
      const fn = target[method.name];
      if (typeof fn !== 'function') throw new InvalidArgumentError(`handler for ${name} (${service.name}) has no function '${method.name}'`);
      const key = name + SERVICE_SEPARATOR + method.name;
      methods[key] = method;
      handler[key] = fn.bind(target) as (...args: unknown[]) => unknown;
    }
  }
  const routes = new ServiceRoutes(descs, defaultService);
  const stackService: ServiceDesc<unknown, object> = { name: Object.keys(descs).join('+'), methods };
  return serveThrift(stackService, handler, serverOptions, routes);
}
