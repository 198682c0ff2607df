/**
 * The client stack every protocol shares, top (closest to the caller) first:
 *
 *   stats → timeout → retries → [hedging] → [serializer] → loadbalancer (+ per-node stats)
 *     per node: failure-accrual → pool → transport
 *
 * Why this order: client stats are outermost so they record exactly what the caller sees (one
 * outcome per call, retries included, a timeout counted when the caller is freed); the timeout
 * comes next so the deadline covers retries and every wait below; retries sit above
 * the balancer so a retry can go to another node; failure accrual sits under the balancer so
 * its verdict ('busy') steers picks, and above the pool so it sees connect failures and
 * timeouts of its own node.
 */
import { AperturePicker } from '../balancer/aperture.js';
import { Balancer, type BalancedNode } from '../balancer/balancer.js';
import { checkPickerOptions, describePicker, makePicker } from '../balancer/pickers.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { CallContext, Service } from '../core/service.js';
import { layer, Stack, type StackLayer } from '../core/stack.js';
import type { ServerSet } from '../discovery/serverset.js';
import { formatAddress, type Address } from '../discovery/uri.js';
import { PipelinePool } from '../pool/pipeline.js';
import { SingletonPool } from '../pool/singleton.js';
import type { Connector, PooledConnection } from '../pool/types.js';
import { WatermarkPool } from '../pool/watermark.js';
import { defaultClassifier, type ResponseClassifier } from '../core/classify.js';
import { failureAccrualLayer } from '../resilience/failure-accrual.js';
import { hedgingLayer } from '../resilience/hedging.js';
import { retriesLayer } from '../resilience/retries.js';
import { timeoutLayer } from '../resilience/timeout.js';
import { statsLayer } from '../stats/layer.js';
import { CallStats } from '../stats/call-stats.js';
import { StatsRegistry, type StatsScope } from '../stats/registry.js';
import { checkStackOptions, idempotentPredicate, loadBalancerParts, resolveBudget, type ClientStackOptions, type PoolConfig } from './options.js';

/** What a protocol contributes to the shared stack. */
export interface ProtocolParts<Req, Rep> {
  /** Opens one connection-level session to `address`; must reject within `connectTimeout` ms. */
  readonly connect: (address: Address, connectTimeout: number) => Promise<PooledConnection<Req, Rep>>;
  /** The transport role's description, e.g. `TCP, Thrift framed binary, seqid-matched`. */
  readonly transportDescription: string;
  /** The serializer role (above the balancer), if the protocol has one. */
  readonly serializer?: StackLayer;
  /** The pool when the options name none. */
  readonly defaultPool: PoolConfig;
  /** Sessions carry many calls at once (so singleton and pipeline pools are allowed). */
  readonly multiplexed: boolean;
  /** What call outcomes mean, as the roles above the serializer see them (stats, retries, hedging). Default: `defaultClassifier`. */
  readonly classifier?: ResponseClassifier;
  /** What outcomes mean below the serializer, per endpoint (node stats, failure accrual). Default: `classifier`. */
  readonly endpointClassifier?: ResponseClassifier;
  /** Idempotent by the protocol's own rules (HTTP GET...) when the options say nothing. */
  readonly idempotentByDefault?: (method: string) => boolean;
}

export interface BuiltClientStack {
  readonly stack: Stack;
  readonly stats: StatsRegistry;
}

const DEFAULT_CONNECT_TIMEOUT = 5000;

/** The stack for `serverSet` (not built yet: `stack.build()` makes the services). */
export function clientStack<Req, Rep>(parts: ProtocolParts<Req, Rep>, o: ClientStackOptions, serverSet: ServerSet, label: string): BuiltClientStack {
  checkStackOptions(o);
  const stats = o.stats ?? new StatsRegistry();
  const clientScope = stats.scope('client', o.label ?? label);
  const connectTimeout = o.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
  const idempotent = idempotentPredicate(o.idempotent) ?? parts.idempotentByDefault;
  const isIdempotent = idempotent === undefined ? undefined : (ctx: CallContext) => idempotent(ctx.method);
  const budget = resolveBudget(o.retryBudget);
  clientScope.gaugeFn('retry_budget_balance', () => budget.balance);

  const classifier = parts.classifier ?? defaultClassifier;
  const endpointClassifier = parts.endpointClassifier ?? classifier;
  const layers: StackLayer[] = [statsLayer(clientScope, { classifier }), timeoutLayer()];
  if (o.retries !== false) {
    const retries = retriesLayer({ budget, maxRetries: o.retries?.maxRetries, backoff: o.retries?.backoff, idempotent: isIdempotent, classifier });
    clientScope.gaugeFn('retries', () => retries.stats.retries);
    clientScope.gaugeFn('retries_budget_exhausted', () => retries.stats.budgetExhausted);
    layers.push(retries);
  }
  if (o.hedging !== undefined && o.hedging !== false) {
    if (isIdempotent === undefined) throw new InvalidArgumentError('hedging sends calls twice: name the idempotent methods (withIdempotent) to hedge');
    const hedging = hedgingLayer({ delay: o.hedging.delay, budget, idempotent: isIdempotent, classifier });
    clientScope.gaugeFn('backup_requests', () => hedging.stats.backups);
    clientScope.gaugeFn('backup_wins', () => hedging.stats.backupWins);
    layers.push(hedging);
  }
  if (parts.serializer !== undefined) layers.push(parts.serializer);
  layers.push(balancerLayer<Req, Rep>(o, serverSet, label, clientScope, endpointClassifier, o.failureAccrual !== false));
  if (o.failureAccrual !== false) {
    layers.push(
      failureAccrualLayer<Req, Rep>({
        ...o.failureAccrual,
        classifier: endpointClassifier,
        onStateChange: (state, key) => clientScope.scope('node', key).recordState(state),
      }),
    );
  }
  layers.push(poolLayer<Req, Rep>(o.pool ?? parts.defaultPool, parts, clientScope));
  layers.push(transportLayer(parts, connectTimeout));
  return { stack: new Stack(layers), stats };
}

/**
 * The balancer also records per-node stats: it already times every attempt and sees its outcome,
 * so a separate per-node stats role would only add a promise and two clock reads per call.
 */
function balancerLayer<Req, Rep>(
  o: ClientStackOptions,
  serverSet: ServerSet,
  label: string,
  scope: StatsScope,
  endpointClassifier: ResponseClassifier,
  withAccrual: boolean,
): StackLayer {
  const { kind, options } = loadBalancerParts(o.loadBalancer);
  checkPickerOptions(kind, options); // bad options fail when the stack is made, not at the first call
  const added = scope.counter('nodes_added');
  const removed = scope.counter('nodes_removed');
  return layer('loadbalancer', `${describePicker(kind, options)}, over a live set (${serverSet.addresses.length} node(s) now); per-node stats`, (makeNode: (a: Address) => Service<Req, Rep>) => {
    const picker = makePicker<BalancedNode<Req, Rep>>(kind, options);
    if (picker instanceof AperturePicker) scope.gaugeFn('aperture_size', () => picker.size);
    const balancer = new Balancer<Req, Rep>(serverSet, makeNode, picker, label, {
      nodeRecorder: (key) => new CallStats(scope.scope('node', key), endpointClassifier),
      onMembership: (event, key) => {
        if (event === 'added') {
          added.value++;
          if (withAccrual) scope.scope('node', key).recordState('alive'); // changes come from failure accrual
        } else {
          removed.value++;
          scope.scope('node', key).remove();
        }
      },
    });
    scope.gaugeFn('nodes', () => balancer.nodeKeys.length);
    return balancer;
  });
}

function poolLayer<Req, Rep>(cfg: PoolConfig, parts: ProtocolParts<Req, Rep>, scope: StatsScope): StackLayer {
  if (!parts.multiplexed && cfg.kind !== 'watermark') {
    throw new InvalidArgumentError(`pool '${cfg.kind}' needs sessions that carry many calls at once; this protocol carries one call per connection: use 'watermark'`);
  }
  const describe = (): string => {
    if (cfg.kind === 'watermark') {
      return `watermark: one call per connection, ${cfg.lowWatermark ?? 1}..${cfg.highWatermark ?? 8} connections per node, at most ${cfg.maxWaiters ?? 1000} waiting ${cfg.waitTimeout ?? 5000} ms`;
    }
    if (cfg.kind === 'singleton') return 'singleton: one shared session per node, reconnected on demand';
    return `pipeline: up to ${cfg.size ?? 1} pipelined session(s) per node, least loaded first`;
  };
  return {
    role: 'pool',
    description: describe(),
    make: (below: unknown) => {
      const connectorFor = below as (a: Address) => Connector<Req, Rep>;
      return (a: Address): Service<Req, Rep> => {
        const endpoint = formatAddress(a);
        const connector = connectorFor(a);
        const nodeScope = scope.scope('node', endpoint);
        if (cfg.kind === 'watermark') {
          const { kind: _kind, ...options } = cfg;
          const pool = new WatermarkPool<Req, Rep>(connector, { ...options, endpoint });
          nodeScope.gaugeFn('connections', () => pool.size);
          nodeScope.gaugeFn('connections_idle', () => pool.idle);
          nodeScope.gaugeFn('pool_waiters', () => pool.waiters);
          return pool;
        }
        if (cfg.kind === 'singleton') {
          const { kind: _kind, ...options } = cfg;
          const pool = new SingletonPool<Req, Rep>(connector, { ...options, endpoint });
          nodeScope.gaugeFn('connections', () => (pool.connected ? 1 : 0));
          nodeScope.gaugeFn('pool_waiters', () => pool.waiters);
          return pool;
        }
        return new PipelinePool<Req, Rep>(() => connector(), { size: cfg.size });
      };
    },
  };
}

function transportLayer<Req, Rep>(parts: ProtocolParts<Req, Rep>, connectTimeout: number): StackLayer {
  return {
    role: 'transport',
    description: `${parts.transportDescription}, connect timeout ${connectTimeout} ms`,
    make: () => (a: Address): Connector<Req, Rep> => () => parts.connect(a, connectTimeout),
  };
}
