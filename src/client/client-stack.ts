import { InvalidArgumentError } from '../core/errors.js';
import type { Service } from '../core/service.js';
import type { Stack, StackLayer, StackView } from '../core/stack.js';

/**
 * A client's two stacks, seen as one list of roles:
 *
 * - the **call stack** (stats → timeout → retries → [hedging] → [serializer] → topology): made
 *   once per client; its terminal is the topology — `loadbalancer` (one endpoint stack per
 *   endpoint of a live set) or `endpoint` (one endpoint, for drivers that own the topology);
 * - the **endpoint stack** (failure-accrual → pool → transport): made once per endpoint by the
 *   topology, which hands each copy its endpoint and a way to hear every attempt's outcome.
 *
 * Edits go to the stack the named role lives in; `insertAfter(<topology>)` puts a role on top
 * of every endpoint's stack. `describe()` numbers the roles top to bottom across both.
 */
export class ClientStack implements StackView {
  constructor(
    readonly call: Stack,
    readonly endpoint: Stack,
  ) {}

  get roles(): string[] {
    return [...this.call.roles, ...this.endpoint.roles];
  }

  has(role: string): boolean {
    return this.call.has(role) || this.endpoint.has(role);
  }

  get(role: string): StackLayer | undefined {
    return this.call.get(role) ?? this.endpoint.get(role);
  }

  /** Puts `layer` on top of the call stack (it will see calls first). */
  prepend(layer: StackLayer): ClientStack {
    return new ClientStack(this.call.prepend(layer), this.endpoint);
  }

  insertBefore(role: string, layer: StackLayer): ClientStack {
    if (this.endpoint.has(role)) {
      // Before the endpoint stack's top is still inside it (every endpoint gets the role).
      return new ClientStack(this.call, this.endpoint.insertBefore(role, layer));
    }
    return new ClientStack(this.where(role).insertBefore(role, layer), this.endpoint);
  }

  insertAfter(role: string, layer: StackLayer): ClientStack {
    if (this.endpoint.has(role)) return new ClientStack(this.call, this.endpoint.insertAfter(role, layer));
    const roles = this.call.roles;
    if (roles[roles.length - 1] === role) return new ClientStack(this.call, this.endpoint.prepend(layer));
    return new ClientStack(this.where(role).insertAfter(role, layer), this.endpoint);
  }

  replace(role: string, layer: StackLayer): ClientStack {
    if (this.endpoint.has(role)) return new ClientStack(this.call, this.endpoint.replace(role, layer));
    return new ClientStack(this.where(role).replace(role, layer), this.endpoint);
  }

  remove(role: string): ClientStack {
    if (this.endpoint.has(role)) return new ClientStack(this.call, this.endpoint.remove(role));
    return new ClientStack(this.where(role).remove(role), this.endpoint);
  }

  /** The call stack's roles, then (indented under the topology) the endpoint stack's. */
  describe(): string {
    const all = [...this.callLayers(), ...this.endpointLayers()];
    const width = Math.max(0, ...all.map((l) => l.role.length));
    const line = (l: StackLayer, i: number): string => `${i + 1}. ${l.role.padEnd(width)}  ${l.description}`;
    const calls = this.callLayers().map(line);
    const n = calls.length;
    const perEndpoint = this.endpointLayers().map((l, i) => line(l, n + i));
    return [...calls, '   per endpoint:', ...perEndpoint].join('\n');
  }

  /** Both stacks are sound (every role gets the kind it needs). Throws InvalidArgumentError. */
  check(): void {
    this.call.check();
    this.endpoint.check();
  }

  /** Builds the call stack; its topology builds endpoint stacks from `endpoint` as endpoints appear. */
  build<Req, Rep>(): Service<Req, Rep> {
    this.endpoint.check();
    return this.call.build<Req, Rep>({ endpointStack: this.endpoint });
  }

  private where(role: string): Stack {
    if (this.call.has(role)) return this.call;
    throw new InvalidArgumentError(`no stack role '${role}' (roles: ${this.roles.join(', ')})`);
  }

  private callLayers(): StackLayer[] {
    return this.call.roles.map((r) => this.call.get(r)!);
  }

  private endpointLayers(): StackLayer[] {
    return this.endpoint.roles.map((r) => this.endpoint.get(r)!);
  }
}
