/**
 * Apache Thrift's multiplexed protocol (TMultiplexedProtocol / TMultiplexedProcessor): several
 * services on one port, a call naming `Service:method` on the wire. Replies carry the plain method
 * name, as Apache's processors write them (the service's own processor only ever sees the plain
 * name). A call without a service prefix goes to the default service when there is one
 * (`registerDefault`), else it is refused.
 *
 * Refusals are answered, and the connection stays usable (Apache's C++ processor answers an
 * unknown service with TApplicationException PROTOCOL_ERROR before it closes; Python, Java and
 * Node raise and close): an unknown service or a missing prefix is PROTOCOL_ERROR with Apache's
 * message, an unknown method of a known service is UNKNOWN_METHOD under the plain method name.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { MAX_ECHOED_NAME, UnknownMethod } from '../../server/codec.js';
import { truncate } from '../../server/safe.js';
import { TApplicationExceptionType } from './application-exception.js';
import type { MethodDesc, ServiceDesc } from './descriptors.js';
import { ThriftRefusal } from './server-codec.js';

/** TMultiplexedProtocol.SEPARATOR. */
export const SERVICE_SEPARATOR = ':';

/** A service and its handler, as one entry of `Thrift.serveMultiplexed` (TMultiplexedProcessor.registerProcessor). */
export type ServiceEntry<Handler extends object = object> = readonly [ServiceDesc<unknown, Handler>, Handler];

/** One resolved call: its method, and its name in the server stack (`Service:method`: stats, handler lookup). */
export interface ServiceRoute {
  readonly desc: MethodDesc;
  readonly stackName: string;
}

/** Names a service may be registered under: non-empty, no separator. */
export function checkServiceName(name: string, what: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.includes(SERVICE_SEPARATOR)) {
    throw new InvalidArgumentError(`${what} must be a non-empty string without '${SERVICE_SEPARATOR}', got ${typeof name === 'string' ? `'${name}'` : String(name)}`);
  }
}

/** The wire names a multiplexed server answers, resolved once at start (one Map lookup per call). */
export class ServiceRoutes {
  private readonly routes = new Map<string, ServiceRoute>();
  private readonly services = new Set<string>();

  constructor(
    services: Readonly<Record<string, ServiceDesc>>,
    readonly defaultService: string | undefined,
  ) {
    for (const [name, service] of Object.entries(services)) {
      checkServiceName(name, 'a multiplexed service name');
      this.services.add(name);
      for (const method of Object.values(service.methods)) {
        const stackName = name + SERVICE_SEPARATOR + method.name;
        this.routes.set(stackName, { desc: method, stackName });
      }
    }
    if (defaultService !== undefined) {
      const service = services[defaultService];
      if (service === undefined || !Object.hasOwn(services, defaultService)) {
        throw new InvalidArgumentError(`defaultService '${String(defaultService)}' is not one of the services (${[...this.services].join(', ')})`);
      }
      for (const method of Object.values(service.methods)) this.routes.set(method.name, this.routes.get(defaultService + SERVICE_SEPARATOR + method.name)!);
    }
  }

  resolve(wireName: string): ServiceRoute | undefined {
    return this.routes.get(wireName);
  }

  /** The answer for a name `resolve` did not know. */
  unknown(wireName: string, seqid: number, oneway: boolean): UnknownMethod<number> {
    const at = wireName.indexOf(SERVICE_SEPARATOR);
    const echoed = truncate(wireName, MAX_ECHOED_NAME);
    if (at < 0) {
      if (this.defaultService !== undefined) return new UnknownMethod(echoed, seqid, oneway);
      return new ThriftRefusal(
        echoed,
        seqid,
        oneway,
        TApplicationExceptionType.PROTOCOL_ERROR,
        `Service name not found in message name: ${echoed}. Did you forget to use TMultiplexedProtocol in your client?`,
      );
    }
    const service = wireName.slice(0, at);
    if (this.services.has(service)) return new UnknownMethod(truncate(wireName.slice(at + 1), MAX_ECHOED_NAME), seqid, oneway);
    return new ThriftRefusal(echoed, seqid, oneway, TApplicationExceptionType.PROTOCOL_ERROR, `TMultiplexedProcessor: Unknown service: ${truncate(service, MAX_ECHOED_NAME)}`);
  }
}
