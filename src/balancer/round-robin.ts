import { ClosedError, NoNodesError } from '../core/errors.js';
import type { CallContext, Service, Status } from '../core/service.js';

/**
 * The simplest balancer: rotate over the nodes, skipping closed ones. A placeholder for the
 * load-aware balancers (heap, aperture, P2C); it keeps the stack's shape honest meanwhile.
 */
export class RoundRobinBalancer<Req, Rep> implements Service<Req, Rep> {
  private next = 0;
  private closed = false;

  constructor(private readonly nodes: readonly Service<Req, Rep>[], private readonly label: string) {}

  get status(): Status {
    if (this.closed) return 'closed';
    return this.nodes.some((n) => n.status !== 'closed') ? 'open' : 'closed';
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    if (this.closed) return Promise.reject(new ClosedError(`client for ${this.label} is closed`));
    const nodes = this.nodes;
    for (let tries = 0; tries < nodes.length; tries++) {
      const node = nodes[this.next++ % nodes.length]!;
      if (node.status !== 'closed') return node.call(req, ctx);
    }
    return Promise.reject(new NoNodesError(`no open node for ${this.label}`));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.nodes.map((n) => n.close()));
  }
}
