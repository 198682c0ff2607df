import { InvalidArgumentError } from './errors.js';
import type { Service } from './service.js';

/**
 * What a layer needs below it and gives above it, checked when a stack is built so that a wrong
 * edit (the serializer removed, a pool without a transport under it) is a clear error then, not
 * `p.then is not a function` at the first call.
 *
 * Kinds are short names: `service<call>` (decoded calls: what the typed proxy sends),
 * `service<wire>` (a protocol's encoded messages), `connector` (opens sessions)... A need of
 * `service<*>` accepts any service; a layer that gives nothing of its own gives what it got.
 */
export type LayerKind = string;

/** Where a layer is being built: the endpoint (for per-endpoint stacks) and hooks of the builder. */
export interface BuildContext {
  /** The endpoint this copy of an endpoint stack serves (undefined in a call stack). */
  readonly endpoint?: unknown;
  /** `host:port` or the endpoint's URI: names it in stats and errors. */
  readonly key?: string;
  /**
   * Present when a load balancer times every attempt on this endpoint and reports its outcome:
   * a role that wants outcomes (failure accrual) registers here at build time instead of
   * wrapping every call. Absent: the role observes its calls itself.
   */
  readonly listen?: (listener: AttemptListener) => void;
  /** For a call stack's topology role: the stack it builds for each endpoint. */
  readonly endpointStack?: Stack;
}

/** Told the outcome of every attempt on one endpoint (by the balancer, which times it anyway). */
export interface AttemptListener {
  /**
   * One attempt ended: `outcome` is the reply when `ok`, else the rejection; `at` is the
   * `performance.now()` time it ended; `ctx` is the call's context (the same object across a
   * call's attempts).
   */
  attemptEnded(ok: boolean, outcome: unknown, ctx: unknown, latencyMs: number, at: number): void;
}

/**
 * One named role in a stack. `make` wraps what sits below it; the bottom layer (the terminal) is
 * made with `undefined` below. Layers are type-erased inside the stack (each protocol's builder
 * knows the real request/reply types at each edge); build them with `layer()` so that the
 * function itself is typed.
 */
export interface StackLayer {
  readonly role: string;
  readonly description: string;
  /** What it needs below (default `service<*>`; a terminal needs nothing). */
  readonly needs?: LayerKind;
  /** What it gives above (default: what it got from below). */
  readonly gives?: LayerKind;
  /** `at` is `{}` when the layer is made on its own (outside a stack build). */
  readonly make: (below: unknown, at?: BuildContext) => unknown;
}

/** A typed service → service layer: `layer('audit', 'counts calls', (below: Service<Req, Rep>) => ...)`. */
export function layer<Below, Req, Rep>(
  role: string,
  description: string,
  make: (below: Below, at: BuildContext) => Service<Req, Rep>,
  kinds: { needs?: LayerKind; gives?: LayerKind } = {},
): StackLayer {
  return { role, description, ...kinds, make: (below: unknown, at: BuildContext = {}) => make(below as Below, at) };
}

/** What a client shows of the stack it was built from (`client.$stack`). */
export interface StackView {
  readonly roles: string[];
  get(role: string): StackLayer | undefined;
  /** One line per role, top first. */
  describe(): string;
}

/** The kind a layer needs when it says nothing: any service. */
export const ANY_SERVICE: LayerKind = 'service<*>';

/** What a terminal that says nothing gives: accepted by every need. */
const UNKNOWN_KIND: LayerKind = '?';

function accepts(need: LayerKind, got: LayerKind): boolean {
  if (need === got || got === UNKNOWN_KIND) return true;
  return need.endsWith('<*>') && got.startsWith(need.slice(0, -2)) && got.endsWith('>');
}

/**
 * An ordered list of named roles, top (closest to the caller) first; the last one is the
 * terminal. Roles are inserted, replaced or removed by name (each edit returns a new stack), and
 * `describe()` prints the order actually built — so an order bug (a breaker above the retries
 * that feed it...) is visible instead of hidden. `build()` checks that every layer gets the kind
 * it needs before making anything.
 */
export class Stack implements StackView {
  private readonly layers: StackLayer[];

  /** `name` labels this stack in errors ("call stack", "endpoint stack"); `top` is the kind its user needs. */
  constructor(
    layers: readonly StackLayer[] = [],
    readonly name = 'stack',
    readonly top?: LayerKind,
  ) {
    this.layers = [...layers];
    const seen = new Set<string>();
    for (const l of this.layers) {
      if (seen.has(l.role)) throw new InvalidArgumentError(`duplicate ${this.name} role '${l.role}'`);
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
    return this.with([l, ...this.layers]);
  }

  insertBefore(role: string, l: StackLayer): Stack {
    const at = this.indexOf(role);
    return this.with([...this.layers.slice(0, at), l, ...this.layers.slice(at)]);
  }

  insertAfter(role: string, l: StackLayer): Stack {
    const at = this.indexOf(role) + 1;
    if (at === this.layers.length) throw new InvalidArgumentError(`cannot insert below '${role}': it is the terminal of the ${this.name} (insert before it instead)`);
    return this.with([...this.layers.slice(0, at), l, ...this.layers.slice(at)]);
  }

  replace(role: string, l: StackLayer): Stack {
    const at = this.indexOf(role);
    const next = [...this.layers];
    next[at] = l;
    return this.with(next);
  }

  remove(role: string): Stack {
    const at = this.indexOf(role);
    if (at === this.layers.length - 1) throw new InvalidArgumentError(`cannot remove '${role}': it is the terminal of the ${this.name} (replace it instead)`);
    return this.with(this.layers.filter((_, i) => i !== at));
  }

  /** One line per role, top first, e.g. `1. timeout  enforces the call deadline`. */
  describe(): string {
    const width = Math.max(0, ...this.layers.map((l) => l.role.length));
    return this.layers.map((l, i) => `${i + 1}. ${l.role.padEnd(width)}  ${l.description}`).join('\n');
  }

  /**
   * Throws InvalidArgumentError naming the first layer that would get a kind it cannot use
   * (walking up from the terminal), or a top that is not what the stack's user needs.
   */
  check(): void {
    const layers = this.layers;
    if (layers.length === 0) throw new InvalidArgumentError(`cannot build an empty ${this.name}`);
    const terminal = layers[layers.length - 1]!;
    if (terminal.needs !== undefined) throw new InvalidArgumentError(`${this.name}: its last role '${terminal.role}' needs ${terminal.needs} below it (it is not a terminal)`);
    // A terminal that names no kind (a test's, a user's) is taken on trust.
    let kind = terminal.gives ?? UNKNOWN_KIND;
    let from = terminal.role;
    for (let i = layers.length - 2; i >= 0; i--) {
      const l = layers[i]!;
      const need = l.needs ?? ANY_SERVICE;
      if (!accepts(need, kind)) {
        throw new InvalidArgumentError(`${this.name}: role '${l.role}' needs ${need} below it, but '${from}' gives ${kind} (roles: ${this.roles.join(', ')})`);
      }
      kind = l.gives ?? kind;
      from = l.role;
    }
    if (this.top !== undefined && !accepts(this.top, kind)) {
      throw new InvalidArgumentError(`${this.name}: its top ('${from}') gives ${kind}, but its user needs ${this.top} (roles: ${this.roles.join(', ')})`);
    }
  }

  /** Checks, then builds bottom-up and returns the top. */
  build<Req = unknown, Rep = unknown>(at: BuildContext = {}): Service<Req, Rep> {
    this.check();
    let below: unknown = undefined;
    for (let i = this.layers.length - 1; i >= 0; i--) below = this.layers[i]!.make(below, at);
    return below as Service<Req, Rep>;
  }

  private with(layers: StackLayer[]): Stack {
    return new Stack(layers, this.name, this.top);
  }

  private indexOf(role: string): number {
    const at = this.layers.findIndex((l) => l.role === role);
    if (at < 0) throw new InvalidArgumentError(`no ${this.name} role '${role}' (roles: ${this.roles.join(', ')})`);
    return at;
  }
}
