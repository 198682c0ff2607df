import { performance } from '../core/clock.js';
import type { ResponseClassifier } from '../core/classify.js';
import { ContextKey } from '../core/context-key.js';
import { ClosedError, NoNodesError } from '../core/errors.js';
import { callByDispatch, dispatcherOf, type Dispatcher } from '../core/dispatch.js';
import type { CallContext, ReplyHandler, Service, Status } from '../core/service.js';
import type { AttemptListener } from '../core/stack.js';
import { endpointKey, type Endpoint } from '../discovery/endpoint.js';
import type { ServerSet } from '../discovery/serverset.js';
import { FirstResolutionGate, type FirstResolutionOptions } from './first-resolution.js';
import type { BalancerNode, Picker } from './types.js';

/**
 * The node a call's last attempt failed on: set by the balancer, read by the balancer when the
 * same call comes back as a retry, so that it goes elsewhere. Private to this module.
 */
const FAILED_ON = new ContextKey<unknown>('scales.balancer.failed-on', undefined);

/** One node as the balancer keeps it: the node's own stack plus the load the picker reads. */
class Node<Req, Rep> implements BalancerNode {
  load = 0;
  /** Removed from the set: takes no new calls, closes once its in-flight calls are done. */
  draining = false;
  /** When its last call in flight ended (0: no call since its stack was built). */
  idleSince = 0;
  recorder: NodeRecorder | undefined = undefined;
  /** Roles of the node's own stack that asked for every attempt's outcome when it was built (failure accrual). */
  readonly listeners: AttemptListener[] = [];
  service!: Service<Req, Rep>;
  down!: Dispatcher<Req, Rep>;

  constructor(
    readonly key: string,
    readonly endpoint: Endpoint,
  ) {}

  /** Builds the node's stack; roles in it may register listeners meanwhile. */
  build(makeNode: NodeMaker<Req, Rep>): void {
    this.service = makeNode(this.endpoint, this.key, (l) => this.listeners.push(l));
    this.down = dispatcherOf(this.service);
  }

  /** A fresh stack in place of the old one, which closes (it has no call in flight). */
  remake(makeNode: NodeMaker<Req, Rep>): void {
    const old = this.service;
    this.listeners.length = 0;
    this.idleSince = 0;
    this.build(makeNode);
    void old.close().catch(() => undefined);
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
  // The attempt's end goes up as the outcome's time: the roles above need no clock read.
  onReply(rep: Rep, at?: number): void {
    let end = 0;
    try {
      end = this.balancer.attemptEnded(this.node, this.ctx, this.start, true, rep, at);
    } finally {
      this.next.onReply(rep, end);
    }
  }

  onError(err: unknown, at?: number): void {
    let end = 0;
    try {
      end = this.balancer.attemptEnded(this.node, this.ctx, this.start, false, err, at);
    } finally {
      this.next.onError(err, end);
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

/** Makes one node's stack; `listen` registers a role of it for every attempt's outcome. */
export type NodeMaker<Req, Rep> = (endpoint: Endpoint, key: string, listen: (listener: AttemptListener) => void) => Service<Req, Rep>;

export interface BalancerOptions {
  /** Notified when a node joins or leaves (stats hook). */
  onMembership?: (event: 'added' | 'removed', key: string) => void;
  /** Makes the recorder of a node that joins (per-node stats). */
  nodeRecorder?: (key: string) => NodeRecorder;
  /**
   * What the endpoints' replies mean (the protocol's endpoint classifier): a reply it does not
   * call a success (a Thrift EXCEPTION message, an HTTP 5xx) counts as a failed attempt for the
   * picker, and a retry avoids that node. Default: every reply is a success.
   */
  classifier?: ResponseClassifier;
  /** Calls made before a discovered set's first answer wait for it (bounded); see FirstResolutionGate. */
  firstResolution?: FirstResolutionOptions;
  /** A node outside the picker's window had its sessions closed for idleness (stats hook). */
  onExpired?: (key: string) => void;
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
  /** Holds calls until a discovered set answers the first time; undefined for sets known at once. */
  private readonly gate: FirstResolutionGate<Req, Rep> | undefined;
  /** Closes idle sessions outside the picker's window (aperture), every idleTime / 2. */
  private readonly expiry: NodeJS.Timeout | undefined;

  constructor(
    serverSet: ServerSet,
    private readonly makeNode: NodeMaker<Req, Rep>,
    private readonly picker: Picker<Node<Req, Rep>>,
    private readonly label: string,
    private readonly options: BalancerOptions = {},
  ) {
    this.update(serverSet.addresses);
    this.gate =
      this.nodes.length === 0 && serverSet.ready !== undefined
        ? new FirstResolutionGate<Req, Rep>(serverSet.ready(), label, (req, ctx, handler) => this.dispatch(req, ctx, handler), options.firstResolution)
        : undefined;
    this.unsubscribe = serverSet.subscribe((endpoints) => this.update(endpoints));
    const idle = picker.idleTime ?? 0;
    if (idle > 0) {
      // Half the idle time: a node goes between idleTime and 1.5 × idleTime after its last call.
      this.expiry = setInterval(() => this.expireIdle(idle), idle / 2);
      this.expiry.unref();
    }
  }

  /**
   * Nodes outside the window, idle at least `idleMs`, get a fresh stack; the old one closes its
   * sessions (Finagle's aperture expiry). A node not open (dead, backing off) is left alone: a
   * fresh stack would forget what failure accrual learned about it.
   */
  private expireIdle(idleMs: number): void {
    const window = this.picker.window;
    if (this.closed || window === undefined) return;
    const now = performance.now();
    const inWindow = new Set(window);
    for (const n of this.nodes) {
      if (n.load > 0 || n.idleSince === 0 || n.draining || inWindow.has(n) || now - n.idleSince < idleMs || n.status !== 'open') continue;
      n.remake(this.makeNode);
      this.options.onExpired?.(n.key);
    }
  }

  get status(): Status {
    if (this.closed) return 'closed';
    let busy = false;
    for (const n of this.nodes) {
      const s = n.status;
      if (s === 'open') return 'open';
      if (s === 'busy') busy = true;
    }
    return busy || this.gate?.waiting === true ? 'busy' : 'closed';
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
    // The first attempt starts when the call did (no clock read); a retry (its context carries
    // the node it failed on) reads the clock.
    const failedOn = ctx.get(FAILED_ON);
    const now = failedOn === undefined ? ctx.start : performance.now();
    let node = this.closed ? undefined : this.picker.pick(now);
    if (node === undefined) return this.gate?.waiting === true && !this.closed ? this.gate.hold(req, ctx, handler) : this.refuse(handler);
    // A retry (same context) should not go back to the node that just failed it: a node whose
    // calls all failed at once (it died) looks least loaded, and p2c would send it the retries.
    if (node === failedOn) node = this.pickOtherThan(node, now);
    node.load++;
    this.picker.started(node, now);
    node.recorder?.started();
    node.down.dispatch(req, ctx, new AttemptHandler(this, node, ctx, now, handler));
  }

  private refuse(handler: ReplyHandler<Rep>): void {
    handler.onError(
      this.closed ? new ClosedError(`client for ${this.label} is closed`) : new NoNodesError(`no node available for ${this.label}${this.gate?.reason !== undefined ? `: ${this.gate.reason}` : ''}`),
    );
  }

  /**
   * @internal One attempt on `node` settled: its load, the picker, per-node stats and the node's
   * listeners learn it (the one place outcomes are recorded). Returns the attempt's end.
   */
  attemptEnded(node: Node<Req, Rep>, ctx: CallContext, start: number, ok: boolean, outcome: unknown, at: number | undefined): number {
    node.load--;
    // The outcome's arrival as the layer below saw it (a socket read), when it says.
    const end = at !== undefined && at >= start ? at : performance.now();
    const latency = end - start;
    const classifier = this.options.classifier;
    const failed = !ok || (classifier !== undefined && classifier.classify(true, outcome) !== 'success');
    this.picker.finished(node, latency, failed, end);
    node.recorder?.finished(latency, ok, outcome);
    const listeners = node.listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]!.attemptEnded(ok, outcome, ctx, latency, end);
    if (failed) ctx.set(FAILED_ON, node); // before the layers above see the failure
    if (node.load === 0) {
      node.idleSince = end;
      if (node.draining) void node.service.close();
    }
    return end;
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
    if (this.expiry !== undefined) clearInterval(this.expiry);
    this.unsubscribe();
    this.gate?.fail(() => new ClosedError(`client for ${this.label} is closed`));
    const nodes = this.nodes;
    this.nodes = [];
    await Promise.all(nodes.map((n) => n.service.close().catch(() => undefined)));
  }

  private update(endpoints: readonly Endpoint[]): void {
    if (this.closed) return;
    const wanted = new Map<string, Endpoint>();
    for (const e of endpoints) wanted.set(endpointKey(e), e);
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
    for (const [key, endpoint] of wanted) {
      const node = new Node<Req, Rep>(key, endpoint);
      node.build(this.makeNode);
      node.recorder = this.options.nodeRecorder?.(key);
      kept.push(node);
      this.options.onMembership?.('added', key);
    }
    this.nodes = kept;
    this.picker.setNodes(kept);
    if (kept.length > 0 && this.gate !== undefined) this.gate.openGate(undefined);
  }
}
