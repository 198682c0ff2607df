import type { Service } from '../core/service.js';
import type { StackLayer } from '../core/stack.js';
import type { Address } from '../discovery/uri.js';

/** Below the load balancer a layer is made with a per-address maker and yields one. */
export type NodeMaker<Req, Rep> = (address: Address) => Service<Req, Rep>;

/**
 * A role of the per-node part of a stack (between the load balancer and the transport): every
 * node gets its own instance, made by `wrap(below, address)`.
 */
export function perNodeLayer<Req, Rep>(role: string, description: string, wrap: (below: Service<Req, Rep>, address: Address) => Service<Req, Rep>): StackLayer {
  return {
    role,
    description,
    make: (below: unknown) => {
      const makeBelow = below as NodeMaker<Req, Rep>;
      return (address: Address): Service<Req, Rep> => wrap(makeBelow(address), address);
    },
  };
}
