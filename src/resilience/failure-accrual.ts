/**
 * Failure accrual: a per-node circuit breaker, after Finagle's FailureAccrualFactory. It marks its
 * node dead when the node keeps failing (status 'busy', so the balancer avoids it) and fails
 * calls fast while it is dead, then after a jittered backoff lets exactly one probe call through:
 * success revives the node, failure marks it dead again for the next, longer, backoff. A call a
 * balancer sent while the node is dead (it does only when no node is open: panic mode) is tried
 * anyway, as Finagle's balancer does with busy nodes; its success revives the node.
 *
 *     alive ──(policy trips)──► dead ──(backoff elapsed)──► probing ──(probe succeeds)──► alive
 *                                 ▲                            │
 *                                 └──────(probe fails)─────────┘
 *
 * Defaults are Finagle's default policy (FailureAccrualFactory.defaultPolicy):
 * `successRateWithinDuration(0.8, 30 s, minRequestThreshold 5).orElse(consecutiveFailures(5))`,
 * marking dead for `Backoff.equalJittered(5 s, 300 s)`.
 */
import { performance, TIME_ORIGIN } from '../core/clock.js';
import { isScalesError, NodeUnavailableError } from '../core/errors.js';
import { callByDispatch, dispatcherOf, type Dispatcher } from '../core/dispatch.js';
import type { CallContext, ReplyHandler, Service, Status } from '../core/service.js';
import type { AttemptListener, BuildContext, StackLayer } from '../core/stack.js';
import { equalJitterBackoff, type Backoff } from './backoff.js';
import { defaultClassifier, type ResponseClass, type ResponseClassifier } from '../core/classify.js';
import { WindowedCounter } from './retry-budget.js';

export type NodeState = 'alive' | 'dead' | 'probing';

export interface SuccessRateOptions {
  /** Mark dead when the success rate drops below this (default 0.8, Finagle's DefaultSuccessRateThreshold). */
  threshold?: number;
  /**
   * Window of the time-decayed (EWMA) success rate, in ms (default 30 000, Finagle's
   * DefaultSuccessRateWindow). The rate is not judged until a full window has passed since the
   * node was created or revived. A node failing everything trips after about window·(1-threshold)
   * (6 s by default) — unless consecutive failures trip it first.
   */
  window?: number;
  /** Requests needed within the last window before the rate can trip (default 5, Finagle's DefaultMinimumRequestThreshold). */
  minRequests?: number;
}

export interface FailureAccrualOptions {
  /** Consecutive failures that mark the node dead (default 5, Finagle's DefaultConsecutiveFailures); 0 disables. */
  consecutiveFailures?: number;
  /** The success-rate trigger (defaults above); `false` disables it. */
  successRate?: SuccessRateOptions | false;
  /** How long to stay dead the n-th time in a row (default equalJitterBackoff(5 000, 300 000), Finagle's). */
  backoff?: Backoff;
  /** What outcomes mean: the protocol's classifier for what this role sees (raw replies, below a serializer). Default: every reply succeeds, errors by the default table. */
  classifier?: ResponseClassifier;
  /** State changes, for stats and logs. */
  onStateChange?: (state: NodeState, key: string) => void;
  /** Clock for the success rate, in ms (default Date.now). Dead periods use setTimeout. */
  now?: () => number;
}

/** Time-decayed average, as Finagle's util.Ema: newer samples weigh more, halving every window·ln2. */
class Ema {
  private value = 1;
  private last = 0;
  private empty = true;

  constructor(private readonly window: number) {}

  update(stamp: number, x: number): number {
    if (this.empty) {
      this.value = x;
      this.empty = false;
    } else if (x === this.value) {
      // A healthy node's steady state (all successes, value 1): the average cannot move, so skip exp().
    } else {
      const w = Math.exp(-(stamp - this.last) / this.window);
      this.value = x * (1 - w) + this.value * w;
    }
    this.last = stamp;
    return this.value;
  }

  reset(): void {
    this.empty = true;
    this.value = 1;
  }
}

const DEFAULT_BACKOFF = equalJitterBackoff(5_000, 300_000);

/** Stands for a resolved reply the classifier called a failure (the reply itself is not kept). */
const REPLY_FAILURE = Symbol('reply failure');

/** Epoch ms on the monotonic clock: the timebase outcomes are reported in. */
function epochNow(): number {
  return TIME_ORIGIN + performance.now();
}

/** Without a balancer reporting outcomes: sees this node's calls end, then hands them on. */
class ObservingHandler<Rep> implements ReplyHandler<Rep> {
  constructor(
    private readonly owner: FailureAccrualService<unknown, Rep>,
    private readonly ctx: CallContext,
    private readonly next: ReplyHandler<Rep>,
  ) {}

  onReply(rep: Rep, at?: number): void {
    const end = at || performance.now();
    try {
      this.owner.attemptEnded(true, rep, this.ctx, end - this.ctx.start, end);
    } finally {
      this.next.onReply(rep, end);
    }
  }

  onError(err: unknown, at?: number): void {
    const end = at || performance.now();
    try {
      this.owner.attemptEnded(false, err, this.ctx, end - this.ctx.start, end);
    } finally {
      this.next.onError(err, end);
    }
  }
}

/** Wraps one node's sub-stack. `key` names the node in errors and state callbacks. */
export class FailureAccrualService<Req, Rep> implements Service<Req, Rep>, AttemptListener {
  private _state: NodeState = 'alive';
  /** The probe call is in flight: everything else fails fast until it ends. */
  private probeInFlight = false;
  private consecutive = 0;
  /** Times marked dead since the node was last alive (picks the backoff step). */
  private deaths = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The probe's context: its outcome is the probe's verdict. */
  private probeCtx: CallContext | undefined = undefined;
  /** A clock was injected (tests): outcome times from below are ignored. */
  private readonly ownClock: boolean;
  /** The last failure seen: the cause of the NodeUnavailableErrors while the node is dead. */
  private lastFailure: unknown = undefined;
  /** Calls sent to this node while it is dead because no node is open (panic mode): rare. */
  private readonly panicCalls = new Set<CallContext>();
  /**
   * A balancer above reports every attempt's outcome (`attemptEnded`), registered when the
   * node's stack was built; without one, this role observes its calls itself. Either way the
   * outcome reaches `attemptEnded`, the one place it is recorded.
   */
  private readonly reported: boolean;

  private readonly maxConsecutive: number;
  private readonly srThreshold: number;
  private readonly srWindow: number;
  private readonly srMinRequests: number;
  private readonly ema: Ema | undefined;
  private readonly requests: WindowedCounter | undefined;
  private srStart: number;
  private readonly now: () => number;
  private readonly backoff: Backoff;
  private readonly classifier: ResponseClassifier;
  private readonly onStateChange: ((state: NodeState, key: string) => void) | undefined;

  private readonly down: Dispatcher<Req, Rep>;

  constructor(
    private readonly below: Service<Req, Rep>,
    readonly key: string,
    options: FailureAccrualOptions = {},
    /** Set by a load balancer's node stack: it will report every attempt (see `reported`). */
    reportedBy?: (listener: AttemptListener) => void,
  ) {
    this.down = dispatcherOf(below);
    this.reported = reportedBy !== undefined;
    reportedBy?.(this);
    this.maxConsecutive = options.consecutiveFailures ?? 5;
    this.now = options.now ?? epochNow;
    this.ownClock = options.now !== undefined;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.classifier = options.classifier ?? defaultClassifier;
    this.onStateChange = options.onStateChange;
    const sr = options.successRate === false ? undefined : (options.successRate ?? {});
    this.srThreshold = sr?.threshold ?? 0.8;
    this.srWindow = sr?.window ?? 30_000;
    this.srMinRequests = sr?.minRequests ?? 5;
    this.ema = sr === undefined ? undefined : new Ema(this.srWindow);
    // Finagle counts requests in 5 slices of the window.
    this.requests = sr === undefined ? undefined : new WindowedCounter(this.srWindow, 5, this.now);
    this.srStart = this.now();
  }

  get state(): NodeState {
    return this._state;
  }

  get status(): Status {
    if (this.closed) return 'closed';
    const below = this.below.status;
    if (below === 'closed') return 'closed';
    if (this._state === 'dead' || this.probeInFlight) return 'busy';
    return below;
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    return callByDispatch(this, req, ctx);
  }

  dispatch(req: Req, ctx: CallContext, handler: ReplyHandler<Rep>): void {
    const state = this._state;
    if (state !== 'alive') {
      if (state === 'probing' && !this.probeInFlight) {
        this.probeInFlight = true;
        this.probeCtx = ctx;
      } else if (this.reported) {
        // A balancer sent this call to a node it knows is down, so no node is open (panic
        // mode): try anyway, as Finagle does; a success revives the node.
        this.panicCalls.add(ctx);
      } else {
        return handler.onError(this.unavailable());
      }
    }
    // The common case passes straight through: the balancer reports the outcome to us.
    if (this.reported) this.down.dispatch(req, ctx, handler);
    else this.down.dispatch(req, ctx, new ObservingHandler(this, ctx, handler));
  }

  close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    return this.below.close();
  }

  /** One attempt on this node ended (told by the balancer, or by our own handler without one). */
  attemptEnded(ok: boolean, outcome: unknown, ctx: unknown, _latencyMs: number, at: number): void {
    // A call our own pool refused (queue full, no time left, deadline passed while waiting) says
    // nothing about the node: a busy but healthy node marked dead would push its load onto the
    // others. Except a probe: refused, it found the node no better (say, every connection still
    // waits for a reply), and letting the next call probe at once would send a stream of them.
    const local = !ok && isScalesError(outcome) && outcome.local;
    if (ctx === this.probeCtx) {
      this.probeCtx = undefined;
      return this.record(local ? 'failure' : this.classOf(ok, outcome), true, undefined, outcome);
    }
    const cls = local ? 'ignored' : this.classOf(ok, outcome);
    if (this.panicCalls.size > 0 && this.panicCalls.delete(ctx as CallContext)) return this.panicEnded(cls, outcome);
    this.record(cls, false, this.ownClock ? undefined : TIME_ORIGIN + at, outcome);
  }

  private unavailable(): NodeUnavailableError {
    const why = this._state === 'dead' ? 'marked dead by failure accrual' : 'probing after failures';
    const last = this.lastFailure;
    const after = last === undefined ? '' : `; last failure: ${last instanceof Error ? last.message : 'a reply classified as a failure'}`;
    return new NodeUnavailableError(`${this.key} is unavailable (${why}${after})`, { endpoint: this.key, cause: last instanceof Error ? last : undefined });
  }

  /** A retryable failure (refused before any work) is still a failure of this node. */
  private classOf(ok: boolean, outcome: unknown): ResponseClass {
    const cls = this.classifier.classify(ok, outcome);
    return cls === 'retryable' ? 'failure' : cls;
  }

  /**
   * A call sent to this dead node because every node is down ended. A success revives the node
   * (it answered); a failure changes nothing (it is already dead, its backoff runs on).
   */
  private panicEnded(cls: ResponseClass, outcome: unknown): void {
    if (this.closed) return;
    if (cls === 'failure') this.lastFailure = outcome instanceof Error ? outcome : REPLY_FAILURE;
    else if (cls === 'success' && this._state !== 'alive') {
      this.clearTimer();
      this.probeInFlight = false;
      this.revive();
    }
  }

  /** `outcome`: the reply or rejection, kept when it is a failure to explain later fast failures. */
  private record(cls: ResponseClass, probe: boolean, at?: number, outcome?: unknown): void {
    if (this.closed) return;
    if (cls === 'failure' && outcome !== undefined && !(outcome instanceof NodeUnavailableError)) this.lastFailure = outcome instanceof Error ? outcome : REPLY_FAILURE;
    if (probe) {
      this.probeInFlight = false;
      if (this._state !== 'probing') return;
      if (cls === 'success') {
        this.revive();
        this.recordSuccess();
      } else if (cls === 'failure') {
        this.markDead();
      } // ignored (the caller cancelled the probe): the next call probes instead
      return;
    }
    // Calls sent while alive that end once the node is dead or probing say nothing new.
    if (this._state !== 'alive') return;
    if (cls === 'success') this.recordSuccess(at);
    else if (cls === 'failure' && this.recordFailure(at)) this.markDead();
  }

  private recordSuccess(at?: number): void {
    this.consecutive = 0;
    if (this.ema !== undefined) {
      const now = at ?? this.now();
      this.requests!.add(1, now);
      this.ema.update(now - this.srStart, 1);
    }
  }

  /** True when a policy says the node is dead. */
  private recordFailure(at?: number): boolean {
    this.consecutive++;
    let dead = this.maxConsecutive > 0 && this.consecutive >= this.maxConsecutive;
    if (this.ema !== undefined) {
      const now = at ?? this.now();
      this.requests!.add(1, now);
      const stamp = now - this.srStart;
      const rate = this.ema.update(stamp, 0);
      if (stamp >= this.srWindow && rate < this.srThreshold && this.requests!.sumAt(now) >= this.srMinRequests) dead = true;
    }
    return dead;
  }

  private markDead(): void {
    this.deaths++;
    this._state = 'dead';
    this.clearTimer();
    const ms = Math.max(0, this.backoff(this.deaths));
    this.timer = setTimeout(this.startProbing, ms);
    // A dead node must not keep the process alive on its own.
    this.timer.unref();
    this.onStateChange?.('dead', this.key);
  }

  private readonly startProbing = (): void => {
    this.timer = undefined;
    if (this.closed || this._state !== 'dead') return;
    this._state = 'probing';
    this.onStateChange?.('probing', this.key);
  };

  private revive(): void {
    this._state = 'alive';
    this.deaths = 0;
    this.consecutive = 0;
    this.ema?.reset();
    this.requests?.reset();
    this.srStart = this.now();
    this.onStateChange?.('alive', this.key);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * The 'failure-accrual' role of an endpoint stack (above the pool): every endpoint gets its own
 * FailureAccrualService, which hears its attempts' outcomes from the balancer when there is one.
 */
export function failureAccrualLayer<Req, Rep>(options: FailureAccrualOptions = {}): StackLayer {
  const sr = options.successRate === false ? 'no success-rate rule' : `success rate < ${options.successRate?.threshold ?? 0.8} over ${options.successRate?.window ?? 30_000} ms`;
  const description = `marks a node dead after ${options.consecutiveFailures ?? 5} consecutive failures or ${sr}; avoided while dead; probes after a jittered backoff`;
  return {
    role: 'failure-accrual',
    description,
    make: (below: unknown, at: BuildContext = {}) => new FailureAccrualService(below as Service<Req, Rep>, at.key ?? 'endpoint', options, at.listen),
  };
}
