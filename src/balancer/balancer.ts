import { performance, TIME_ORIGIN } from '../core/clock.js';
import { ClosedError, NoNodesError } from '../core/errors.js';
import { callByDispatch, dispatcherOf, type Dispatcher } from '../core/dispatch.js';
import type { CallContext, ReplyHandler, Service, Status } from '../core/service.js';
import { formatAddress, type Address } from '../discovery/uri.js';
import type { ServerSet } from '../discovery/serverset.js';
import { isAttemptObserver, type AttemptObserver, type BalancerNode, type Picker } from './types.js';

/** One node as the balancer keeps it: the node's own stack plus the load the picker reads. */
class Node<Req, Rep> implements BalancerNode {
  load = 0;
  /** Removed from the set: takes no new calls, closes once its in-flight calls are done. */
  draining = false;
  recorder: NodeRecorder | undefined = undefined;
  /** The node's stack top when it takes outcomes from us (failure accrual). */
  observer: AttemptObserver | undefined = undefined;
  readonly down: Dispatcher<Req, Rep>;

  constructor(
    readonly key: string,
    readonly address: Address,
    readonly service: Service<Req, Rep>,
  ) {
    this.down = dispatcherOf(service);
  }

  get status(): Status {
    return this.draining ? 'closed' : this.service.status;
  }
}

/** One attempt on one node: the balancer's bookkeeping first, then the layers above. */
class AttemptHandler<Req, Rep> implements ReplyHandler<Rep> {
  constructor(
    private readonly balancer: Balancer<Req, Rep>,
    private readonly node: Node<Req, Rep>,
    private readonly ctx: CallContext,
    private readonly start: number,
    private readonly next: ReplyHandler<Rep>,
  ) {}

  // `finally`: a throwing stats or classifier hook must not keep the outcome from the caller.
  onReply(rep: Rep): void {
    try {
      this.balancer.attemptEnded(this.node, this.ctx, this.start, true, rep);
    } finally {
      this.next.onReply(rep);
    }
  }

  onError(err: unknown): void {
    try {
      this.balancer.attemptEnded(this.node, this.ctx, this.start, false, err);
    } finally {
      this.next.onError(err);
    }
  }
}

/** The node objects a Balancer hands its Picker. */
export type BalancedNode<Req, Rep> = Node<Req, Rep>;

/** Extra picks a retry makes to find a node other than the one its last attempt failed on. */
const REPICKS = 4;

/** Sees every attempt on one node (per-node stats): told by the balancer, which times it anyway. */
export interface NodeRecorder {
  started(): void;
  /** `outcome` is the reply when `ok`, else the rejection. */
  finished(latencyMs: number, ok: boolean, outcome: unknown): void;
}

export interface BalancerOptions {
  /** Notified when a node joins or leaves (stats hook). */
  onMembership?: (event: 'added' | 'removed', key: string) => void;
  /** Makes the recorder of a node that joins (per-node stats). */
  nodeRecorder?: (key: string) => NodeRecorder;
}

/**
 * The balancer role: keeps one sub-stack per address of a live ServerSet, asks the Picker where
 * each call goes, and keeps the `load` the Picker reads. A node removed from the set stops
 * getting calls at once and is closed only after its in-flight calls finished.
 */
export class Balancer<Req, Rep> implements Service<Req, Rep> {
  private nodes: Node<Req, Rep>[] = [];
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly serverSet: ServerSet,
    private readonly makeNode: (address: Address) => Service<Req, Rep>,
    private readonly picker: Picker<Node<Req, Rep>>,
    private readonly label: string,
    private readonly options: BalancerOptions = {},
  ) {
    this.update(serverSet.addresses);
    this.unsubscribe = serverSet.subscribe((addresses) => this.update(addresses));
  }

  get status(): Status {
    if (this.closed) return 'closed';
    let busy = false;
    for (const n of this.nodes) {
      const s = n.status;
      if (s === 'open') return 'open';
      if (s === 'busy') busy = true;
    }
    return busy ? 'busy' : 'closed';
  }

  /** Keys of the nodes taking calls now (for stats and tests). */
  get nodeKeys(): string[] {
    return this.nodes.map((n) => n.key);
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    return callByDispatch(this, req, ctx);
  }

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    // Monotonic and sub-millisecond: latency-aware pickers (peak EWMA) need real numbers for
    // sub-ms calls, and a wall-clock step must not look like a slow call.
    // The first attempt starts when the call did (no clock read); a retry reads the clock.
    const now = ctx.attempts === 0 ? ctx.start : performance.now();
    let node = this.closed ? undefined : this.picker.pick(now);
    if (node === undefined) return this.refuse(handler);
    // A retry (same context) should not go back to the node that just failed it: a node whose
    // calls all failed at once (it died) looks least loaded, and p2c would send it the retries.
    if (node === ctx.failedOn) node = this.pickOtherThan(node, now);
    node.load++;
    ctx.attempts++;
    ctx.pendingAttempts++;
    this.picker.started(node, now);
    node.recorder?.started();
    node.down.dispatch(req, ctx, new AttemptHandler(this, node, ctx, now, handler));
  }

  private refuse(handler: ReplyHandler<Rep>): void {
    handler.onError(this.closed ? new ClosedError(`client for ${this.label} is closed`) : new NoNodesError(`no node available for ${this.label}`));
  }

  /** @internal One attempt on `node` settled: its load, the picker, per-node stats and failure accrual learn it. */
  attemptEnded(node: Node<Req, Rep>, ctx: CallContext, start: number, ok: boolean, outcome: unknown): void {
    node.load--;
    // A reply's arrival as its transport saw it (no clock read of ours), if it says; an earlier
    // attempt's stamp is older than this attempt's start.
    const replyAt = ctx.replyAt;
    const end = ok && replyAt >= start ? replyAt : performance.now();
    ctx.pendingAttempts--;
    ctx.lastAttemptEnd = end;
    this.picker.finished(node, end - start, !ok, end);
    node.observer?.attemptFinished(ok, outcome, ctx, TIME_ORIGIN + end);
    node.recorder?.finished(end - start, ok, outcome);
    if (!ok) ctx.failedOn = node; // before the layers above see the failure
    if (node.draining && node.load === 0) void node.service.close();
  }

  /**
   * A few more picks for a node other than `avoid`; then (a deterministic picker such as the
   * heap returns the same node every time) the least loaded open other node, by a scan that only
   * retries landing on their failed node pay for; `avoid` itself when there is none.
   */
  private pickOtherThan(avoid: Node<Req, Rep>, now: number): Node<Req, Rep> {
    for (let i = 0; i < REPICKS; i++) {
      const n = this.picker.pick(now);
      if (n !== undefined && n !== avoid) return n;
    }
    let best: Node<Req, Rep> | undefined;
    for (const n of this.nodes) {
      if (n !== avoid && n.status === 'open' && (best === undefined || n.load < best.load)) best = n;
    }
    return best ?? avoid;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    const nodes = this.nodes;
    this.nodes = [];
    await Promise.all(nodes.map((n) => n.service.close().catch(() => undefined)));
  }

  private update(addresses: readonly Address[]): void {
    if (this.closed) return;
    const wanted = new Map<string, Address>();
    for (const a of addresses) wanted.set(formatAddress(a), a);
    const kept: Node<Req, Rep>[] = [];
    for (const n of this.nodes) {
      if (wanted.has(n.key)) {
        kept.push(n);
        wanted.delete(n.key);
      } else {
        n.draining = true;
        this.options.onMembership?.('removed', n.key);
        if (n.load === 0) void n.service.close();
      }
    }
    for (const [key, address] of wanted) {
      const service = this.makeNode(address);
      const node = new Node(key, address, service);
      node.recorder = this.options.nodeRecorder?.(key);
      if (isAttemptObserver(service)) {
        service.observeAttempts();
        node.observer = service;
      }
      kept.push(node);
      this.options.onMembership?.('added', key);
    }
    this.nodes = kept;
    this.picker.setNodes(kept);
  }
}
