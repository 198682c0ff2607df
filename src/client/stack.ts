/**
 * The client stacks every protocol shares (see ClientStack), top (closest to the caller) first:
 *
 *   call stack:      stats → timeout → retries → [hedging] → [serializer] → loadbalancer | endpoint
 *   endpoint stack:  failure-accrual → pool → transport        (one copy per endpoint)
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
import { defaultClassifier, type ResponseClassifier } from '../core/classify.js';
import { InvalidArgumentError } from '../core/errors.js';
import { resolveLogger, safeLog } from '../core/logger.js';
import type { CallContext, Service } from '../core/service.js';
import { Stack, type BuildContext, type StackLayer } from '../core/stack.js';
import { endpointKey, type Endpoint } from '../discovery/endpoint.js';
import type { ServerSet } from '../discovery/serverset.js';
import { PipelinePool } from '../pool/pipeline.js';
import { SingletonPool } from '../pool/singleton.js';
import type { Connector, PooledConnection } from '../pool/types.js';
import { WatermarkPool } from '../pool/watermark.js';
import { failureAccrualLayer } from '../resilience/failure-accrual.js';
import { hedgingLayer } from '../resilience/hedging.js';
import { retriesLayer } from '../resilience/retries.js';
import { timeoutLayer } from '../resilience/timeout.js';
import { statsLayer } from '../stats/layer.js';
import { CallStats } from '../stats/call-stats.js';
import { StatsRegistry, type Counter, type StatsScope } from '../stats/registry.js';
import { ClientStack } from './client-stack.js';
import { checkStackOptions, idempotentPredicate, loadBalancerParts, resolveBudget, type ClientStackOptions, type PoolConfig } from './options.js';
import { CALL, CONNECTOR, Role, WIRE } from './roles.js';

/** What a protocol contributes to the shared stack. */
export interface ProtocolParts<Req, Rep> {
  /** Opens one connection-level session to `endpoint`; must reject within `connectTimeout` ms. */
  readonly connect: (endpoint: Endpoint, connectTimeout: number) => Promise<PooledConnection<Req, Rep>>;
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
  /**
   * 'balanced' (default): a load balancer over the destination's live set. 'single': the
   * destination names exactly one endpoint whose driver owns the topology (a queue, a Kafka
   * producer): one endpoint stack, no balancer.
   */
  readonly topology?: 'balanced' | 'single';
}

export interface BuiltClientStack {
  readonly stack: ClientStack;
  readonly stats: StatsRegistry;
}

const DEFAULT_CONNECT_TIMEOUT = 5000;

const NODE_STATE_TEXT = {
  dead: 'marked dead by failure accrual: no calls until it is probed',
  probing: 'probed: one call may go',
  alive: 'alive again',
} as const;

/** The stack for `serverSet` (not built yet: `stack.build()` makes the services). */
export function clientStack<Req, Rep>(parts: ProtocolParts<Req, Rep>, o: ClientStackOptions, serverSet: ServerSet, label: string): BuiltClientStack {
  checkStackOptions(o);
  const stats = o.stats ?? new StatsRegistry();
  const clientScope = stats.scope('client', o.label ?? label);
  const connectTimeout = o.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
  const idempotent = idempotentPredicate(o.idempotent) ?? parts.idempotentByDefault;
  const isIdempotent = idempotent === undefined ? undefined : (ctx: CallContext) => idempotent(ctx.method);
  const budget = resolveBudget(o.retryBudget);
  const logger = resolveLogger(o.logger);
  clientScope.gaugeFn('retry_budget_balance', () => budget.balance);

  const classifier = parts.classifier ?? defaultClassifier;
  const endpointClassifier = parts.endpointClassifier ?? classifier;
  const layers: StackLayer[] = [statsLayer(clientScope, { classifier }), timeoutLayer()];
  // What the sessions carry: encoded messages under a serializer, else the calls themselves.
  const sessionKind = parts.serializer !== undefined ? WIRE : CALL;
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
  const withAccrual = o.failureAccrual !== false;
  layers.push(
    parts.topology === 'single'
      ? singleEndpointLayer<Req, Rep>(serverSet, label, sessionKind)
      : balancerLayer<Req, Rep>(o, serverSet, label, clientScope, endpointClassifier, withAccrual, sessionKind),
  );
  const endpointLayers: StackLayer[] = [];
  if (withAccrual) {
    endpointLayers.push(
      failureAccrualLayer<Req, Rep>({
        ...o.failureAccrual,
        classifier: endpointClassifier,
        onStateChange: (state, key) => {
          clientScope.scope('node', key).recordState(state);
          // Rare (a node's death and recovery): worth a line, at its level.
          const level = state === 'dead' ? 'warn' : 'info';
          safeLog(logger, level, { kind: 'node', endpoint: key, state }, `client ${o.label ?? label}: node ${key} ${NODE_STATE_TEXT[state]}`);
        },
      }),
    );
  }
  endpointLayers.push(poolLayer<Req, Rep>(o.pool ?? parts.defaultPool, parts, clientScope, sessionKind));
  endpointLayers.push(transportLayer(parts, connectTimeout));
  const stack = new ClientStack(new Stack(layers, 'call stack', CALL), new Stack(endpointLayers, 'endpoint stack', sessionKind));
  return { stack, stats };
}

/** Builds one copy of the endpoint stack for `endpoint` (what a topology role calls). */
function endpointService<Req, Rep>(at: BuildContext, endpoint: Endpoint, key: string, listen?: BuildContext['listen']): Service<Req, Rep> {
  const stack = at.endpointStack;
  if (stack === undefined) throw new InvalidArgumentError('the topology role was built without an endpoint stack (build the client through ClientStack.build)');
  return stack.build<Req, Rep>({ endpoint, key, listen });
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
  sessionKind: string,
): StackLayer {
  const { kind, options } = loadBalancerParts(o.loadBalancer);
  checkPickerOptions(kind, options); // bad options fail when the stack is made, not at the first call
  const added = scope.counter('nodes_added');
  const removed = scope.counter('nodes_removed');
  // Made on the first expiry (aperture only): a client that never expires a node shows no counter.
  let expired: Counter | undefined;
  const make = (_below: unknown, at: BuildContext = {}): Service<Req, Rep> => {
    const picker = makePicker<BalancedNode<Req, Rep>>(kind, options);
    if (picker instanceof AperturePicker) scope.gaugeFn('aperture_size', () => picker.size);
    const makeNode = (endpoint: Endpoint, key: string, listen: NonNullable<BuildContext['listen']>): Service<Req, Rep> => endpointService<Req, Rep>(at, endpoint, key, listen);
    const balancer = new Balancer<Req, Rep>(serverSet, makeNode, picker, label, {
      nodeRecorder: (key) => new CallStats(scope.scope('node', key), endpointClassifier),
      // The default classifier calls every reply a success: no need to ask it per attempt.
      classifier: endpointClassifier === defaultClassifier ? undefined : endpointClassifier,
      firstResolution: o.discoveryWait,
      onExpired: () => void (expired ??= scope.counter('nodes_expired')).value++,
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
  };
  return { role: Role.loadbalancer, description: `${describePicker(kind, options)}, over a live set (${serverSet.addresses.length} node(s) now); per-node stats`, gives: sessionKind, make };
}

/**
 * The 'endpoint' topology: one endpoint stack for the destination's only endpoint, no balancer
 * (the protocol's driver owns the topology). The set must name exactly one endpoint.
 */
function singleEndpointLayer<Req, Rep>(serverSet: ServerSet, label: string, sessionKind: string): StackLayer {
  const endpoints = serverSet.addresses;
  // A wrong destination fails when the stack is made, not at the first call.
  if (endpoints.length !== 1) throw new InvalidArgumentError(`${label}: this client talks to exactly one endpoint, the destination names ${endpoints.length}`);
  const endpoint = endpoints[0]!;
  const key = endpointKey(endpoint);
  const make = (_below: unknown, at: BuildContext = {}): Service<Req, Rep> => endpointService<Req, Rep>(at, endpoint, key);
  return { role: Role.endpoint, description: `one endpoint (${key}); the driver owns the topology`, gives: sessionKind, make };
}

function poolLayer<Req, Rep>(cfg: PoolConfig, parts: ProtocolParts<Req, Rep>, scope: StatsScope, sessionKind: string): StackLayer {
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
    role: Role.pool,
    description: describe(),
    needs: CONNECTOR,
    gives: sessionKind,
    make: (below: unknown, at: BuildContext = {}): Service<Req, Rep> => {
      const connector = below as Connector<Req, Rep>;
      {
        const endpoint = at.key ?? 'endpoint';
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
        const { kind: _kind, ...options } = cfg;
        const pool = new PipelinePool<Req, Rep>(() => connector(), { ...options, endpoint });
        nodeScope.gaugeFn('connections', () => pool.size);
        nodeScope.gaugeFn('pool_waiters', () => pool.waiters);
        return pool;
      }
    },
  };
}

function transportLayer<Req, Rep>(parts: ProtocolParts<Req, Rep>, connectTimeout: number): StackLayer {
  return {
    role: Role.transport,
    description: `${parts.transportDescription}, connect timeout ${connectTimeout} ms`,
    gives: CONNECTOR,
    make: (_below: unknown, at: BuildContext = {}): Connector<Req, Rep> => {
      const endpoint = at.endpoint as Endpoint | undefined;
      if (endpoint === undefined) throw new InvalidArgumentError('the transport role belongs to an endpoint stack (built per endpoint)');
      return () => parts.connect(endpoint, connectTimeout);
    },
  };
}
