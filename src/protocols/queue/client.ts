/**
 * The queue client: the same typed proxy and client stack as Thrift (stats, timeout, retries of
 * what was certainly not sent, the serializer, then one endpoint: `topology: 'single'`), whose
 * "connection" is a batching producer over a broker backend. A call resolves when the broker has
 * accepted its message: `await client.sendEmail(to, body)` means "queued", not "done".
 *
 * The call's own timeout/deadline bounds waiting for the broker; the *message's* deadline (after
 * which a consumer dead-letters it unrun) is `messageTtl`, or `QueueDeadline` set per call.
 */
import { randomUUID } from 'node:crypto';
import { createClientProxy, type ClientControl, type ProxyMethod } from '../../client/proxy.js';
import { clientStack, type ProtocolParts } from '../../client/stack.js';
import type { ClientStackOptions, PoolConfig } from '../../client/options.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { ForwardingService } from '../../core/filter.js';
import type { CallContext, ReplyHandler, Service } from '../../core/service.js';
import { layer, type StackLayer } from '../../core/stack.js';
import { StaticServerSet } from '../../discovery/serverset.js';
import type { MethodDesc, ServiceDesc } from '../thrift/descriptors.js';
import type { ThriftCall } from '../thrift/messages.js';
import type { ThriftProtocol } from '../thrift/protocol.js';
import type { BackendOptions } from './backend.js';
import { IdempotencyKey, QueueDeadline, QueueTraceId } from './context.js';
import type { OutgoingMessage } from './envelope.js';
import { DEFAULT_PRODUCER_LIMITS, type ProducerLimits, QueueProducer } from './producer.js';
import { openBackend, queueScheme, redact } from './registry.js';
import { checkQueueable, encodeCallBody, newWriter, queueProtocol } from './thrift-body.js';

export interface QueueClientOptions extends ClientStackOptions, Partial<ProducerLimits>, BackendOptions {
  /** Only these methods (each must be oneway or void); default every method of the service. */
  methods?: readonly string[];
  /** Each message's deadline this many ms after the call (attribute `scales.deadline`); default none. */
  messageTtl?: number;
  /** Largest Thrift body accepted, bytes (default 1 MiB; the broker's own limit applies too). */
  maxBodyBytes?: number;
}

/** Default Thrift body limit for queue messages. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Calls may wait this many at most for the broker connection to open (the singleton pool's waiters). */
const QUEUE_DEFAULT_POOL: PoolConfig = { kind: 'singleton', maxWaiters: 10_000 };

/** Turns a call into a queue message: a Thrift body and its attributes. */
class QueueSerializer extends ForwardingService<ThriftCall, unknown, OutgoingMessage, void> {
  private readonly scratch = newWriter();

  constructor(
    private readonly protocol: ThriftProtocol,
    private readonly maxBodyBytes: number,
    private readonly messageTtl: number | undefined,
    below: Service<OutgoingMessage, void>,
  ) {
    super(below);
  }

  dispatch(c: ThriftCall, ctx: CallContext, handler: ReplyHandler<unknown>): void {
    let body: Buffer;
    try {
      body = encodeCallBody(this.protocol, this.scratch, c.method, c.args);
    } catch (err) {
      return handler.onError(err);
    }
    if (body.length > this.maxBodyBytes) {
      return handler.onError(new InvalidArgumentError(`${c.method.name}: message body of ${body.length} bytes is over maxBodyBytes (${this.maxBodyBytes})`));
    }
    const ttl = this.messageTtl;
    const deadline = ctx.get(QueueDeadline) ?? (ttl === undefined ? undefined : Date.now() + ttl);
    const message: OutgoingMessage = {
      body,
      attributes: {
        method: c.method.name,
        traceId: ctx.get(QueueTraceId),
        deadline,
        attempt: 1,
        idempotencyKey: ctx.get(IdempotencyKey) ?? randomUUID(),
        contentType: 'thrift-binary',
      },
    };
    this.down.dispatch(message, ctx, handler as ReplyHandler<void>);
  }
}

function serializerLayer(protocol: ThriftProtocol, maxBodyBytes: number, messageTtl: number | undefined): StackLayer {
  return layer(
    'serializer',
    'encodes the call as a Thrift binary message + queue attributes',
    (below: Service<OutgoingMessage, void>) => new QueueSerializer(protocol, maxBodyBytes, messageTtl, below),
    { needs: 'service<wire>', gives: 'service<call>' },
  );
}

function checkOptions(o: QueueClientOptions): void {
  const positive = (name: string, v: number | undefined, allowZero = false): void => {
    if (v !== undefined && !(Number.isFinite(v) && (allowZero ? v >= 0 : v > 0)))
      throw new InvalidArgumentError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(v)}`);
  };
  positive('lingerMs', o.lingerMs, true);
  positive('maxBuffered', o.maxBuffered);
  positive('maxBufferedBytes', o.maxBufferedBytes);
  positive('maxInFlightBatches', o.maxInFlightBatches);
  positive('maxBatch', o.maxBatch);
  positive('messageTtl', o.messageTtl);
  positive('maxBodyBytes', o.maxBodyBytes);
}

/** `Queue.newClient(Service, 'redis://127.0.0.1:6379/emails')`: see docs/queue.md. */
export function newQueueClient<Client>(service: ServiceDesc<Client>, dest: string, o: QueueClientOptions = {}): Client & ClientControl {
  checkOptions(o);
  checkQueueable(service as ServiceDesc, o.methods);
  const scheme = queueScheme(dest);
  const maxBodyBytes = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const protocol = queueProtocol(maxBodyBytes);
  const limits: ProducerLimits = {
    lingerMs: o.lingerMs ?? DEFAULT_PRODUCER_LIMITS.lingerMs,
    maxBuffered: o.maxBuffered ?? DEFAULT_PRODUCER_LIMITS.maxBuffered,
    maxBufferedBytes: o.maxBufferedBytes ?? DEFAULT_PRODUCER_LIMITS.maxBufferedBytes,
    maxInFlightBatches: o.maxInFlightBatches,
    maxBatch: o.maxBatch,
  };
  const backendOptions: BackendOptions = { group: o.group, consumer: o.consumer, create: o.create, deadLetter: o.deadLetter };
  const parts: ProtocolParts<OutgoingMessage, void> = {
    connect: async () => new QueueProducer(await openBackend(dest, backendOptions), limits),
    transportDescription: `${scheme} queue, batched (linger ${limits.lingerMs} ms, buffer ≤ ${limits.maxBuffered} messages)`,
    serializer: serializerLayer(protocol, maxBodyBytes, o.messageTtl),
    defaultPool: QUEUE_DEFAULT_POOL,
    multiplexed: true,
    topology: 'single',
  };
  const label = `${service.name}@${redact(dest)}`;
  const serverSet = new StaticServerSet([{ scheme, uri: redact(dest) }]);
  // Failure accrual is off unless asked for: with one broker there is nowhere else to send, and
  // while the broker is down each call already fails fast (ConnectError); accrual would only keep
  // failing calls for its probe interval after the broker is back.
  const { stack, stats } = clientStack(parts, { ...o, failureAccrual: o.failureAccrual ?? false }, serverSet, label);
  const top = stack.build<ThriftCall, unknown>();
  return createClientProxy<ThriftCall, Client>(proxyMethods(service as ServiceDesc, o.methods), top, stack, o.timeout, stats, () => serverSet.close?.());
}

function proxyMethods(service: ServiceDesc, only: readonly string[] | undefined): ProxyMethod<ThriftCall>[] {
  const names = only ?? Object.keys(service.methods);
  return names.map((n) => {
    const method = service.methods[n] as MethodDesc;
    const params = method.params;
    return {
      name: method.name,
      arity: params.length,
      toCall: (...args: unknown[]): ThriftCall => {
        const a: Record<string, unknown> = {};
        for (let i = 0; i < params.length; i++) a[params[i]!] = args[i];
        return { method, args: a };
      },
    };
  });
}
