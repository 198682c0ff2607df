import type { Address } from '../discovery/uri.js';
import { InvalidArgumentError } from './errors.js';
import type { Service } from './service.js';

/**
 * One named role in a stack. `make` wraps what sits below it. Layers are type-erased inside the
 * stack (each protocol's builder knows the real request/reply types at each edge); build them with
 * `layer()` so the function itself is typed.
 */
export interface StackLayer {
  readonly role: string;
  readonly description: string;
  readonly make: (below: unknown) => unknown;
}

/** A typed layer: wraps a `Below` (a service, a factory...) into a service. */
export function layer<Below, Req, Rep>(
  role: string,
  description: string,
  make: (below: Below) => Service<Req, Rep>,
): StackLayer {
  return { role, description, make: make as (below: unknown) => unknown };
}

/**
 * A role of the per-node part of a stack (between the load balancer and the transport): it is
 * made with a per-address maker below it and yields one, so every node gets its own instance,
 * made by `wrap(below, address)`.
 */
export function perNodeLayer<Req, Rep>(role: string, description: string, wrap: (below: Service<Req, Rep>, address: Address) => Service<Req, Rep>): StackLayer {
  return {
    role,
    description,
    make: (below: unknown) => {
      const makeBelow = below as (address: Address) => Service<Req, Rep>;
      return (address: Address): Service<Req, Rep> => wrap(makeBelow(address), address);
    },
  };
}

/**
 * An ordered list of named roles, top (closest to the caller) first. The last layer is the
 * terminal: it is made with `undefined` below it (it owns the transport). Roles can be inserted,
 * replaced or removed by name, and `describe()` prints the order actually built — so an order bug
 * (a breaker above the retries that feed it...) is visible instead of hidden.
 */
export class Stack {
  private readonly layers: StackLayer[];

  constructor(layers: readonly StackLayer[] = []) {
    this.layers = [...layers];
    const seen = new Set<string>();
    for (const l of this.layers) {
      if (seen.has(l.role)) throw new InvalidArgumentError(`duplicate stack role '${l.role}'`);
      seen.add(l.role);
    }
  }

  get roles(): string[] {
    return this.layers.map((l) => l.role);
  }

  has(role: string): boolean {
    return this.layers.some((l) => l.role === role);
  }

  get(role: string): StackLayer | undefined {
    return this.layers.find((l) => l.role === role);
  }

  /** Puts `layer` on top (it will see calls first). */
  prepend(l: StackLayer): Stack {
    return new Stack([l, ...this.layers]);
  }

  insertBefore(role: string, l: StackLayer): Stack {
    const at = this.indexOf(role);
    return new Stack([...this.layers.slice(0, at), l, ...this.layers.slice(at)]);
  }

  insertAfter(role: string, l: StackLayer): Stack {
    const at = this.indexOf(role) + 1;
    return new Stack([...this.layers.slice(0, at), l, ...this.layers.slice(at)]);
  }

  replace(role: string, l: StackLayer): Stack {
    const at = this.indexOf(role);
    const next = [...this.layers];
    next[at] = l;
    return new Stack(next);
  }

  remove(role: string): Stack {
    const at = this.indexOf(role);
    if (at === this.layers.length - 1) throw new InvalidArgumentError(`cannot remove the terminal role '${role}'`);
    return new Stack(this.layers.filter((_, i) => i !== at));
  }

  /** One line per role, top first, e.g. `1. timeout  enforces the call deadline`. */
  describe(): string {
    const width = Math.max(0, ...this.layers.map((l) => l.role.length));
    return this.layers.map((l, i) => `${i + 1}. ${l.role.padEnd(width)}  ${l.description}`).join('\n');
  }

  /** Builds bottom-up and returns the top service. */
  build<Req, Rep>(): Service<Req, Rep> {
    if (this.layers.length === 0) throw new InvalidArgumentError('cannot build an empty stack');
    let below: unknown = undefined;
    for (let i = this.layers.length - 1; i >= 0; i--) below = this.layers[i]!.make(below);
    return below as Service<Req, Rep>;
  }

  private indexOf(role: string): number {
    const at = this.layers.findIndex((l) => l.role === role);
    if (at < 0) throw new InvalidArgumentError(`no stack role '${role}' (roles: ${this.roles.join(', ')})`);
    return at;
  }
}
