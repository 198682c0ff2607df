/**
 * The queue consumer: a server on the server dispatcher (src/server/), so the same roles run
 * every call (stats → deadline → concurrency → logging → errors → handler), fed by a broker
 * instead of a socket.
 *
 *   receive (long poll, bounded by `concurrency`) → check → decode → server stack → handler
 *     handler succeeded           ack (batched)
 *     handler failed / timed out  retry as attempt n+1 after `retryDelay(n)`, or dead-letter `max-attempts` at maxAttempts
 *     declared (IDL) exception    dead-letter `rejected` (the handler refused the call for good)
 *     bad message                 dead-letter with its reason, never run
 *   a running handler's lease is renewed once a third of it has passed (checked every sixth, so
 *   at the latest halfway through: the renewal has the other half to reach the broker); close() stops receiving, lets
 *   running handlers finish (grace), releases what is left, and closes the broker connection.
 */
import { unwatchAbort, watchAbort } from '../../core/abort-watch.js';
import { performance } from '../../core/clock.js';
import { ContextValues } from '../../core/context-key.js';
import { ClosedError, InvalidArgumentError, type ScalesError } from '../../core/errors.js';
import type { Stack } from '../../core/stack.js';
import { equalJitterBackoff } from '../../resilience/backoff.js';
import type { ServerCodec, ServerErrorKind, ServerRequest } from '../../server/codec.js';
import { ServerDispatcher } from '../../server/dispatcher.js';
import type { ServerRequestContext } from '../../server/context.js';
import { report, type ErrorHook, describeError } from '../../server/safe.js';
import { ServerSession } from '../../server/session.js';
import type { ServerService } from '../../server/stack.js';
import type { StatsRegistry, StatsScope, Counter } from '../../stats/registry.js';
import type { MethodDesc, ServiceDesc } from '../thrift/descriptors.js';
import type { ThriftProtocol } from '../thrift/protocol.js';
import { type ThriftStackOptions, thriftServerStack } from '../thrift/server.js';
import { ThriftServerCodec } from '../thrift/server-codec.js';
import type { BackendOptions, QueueBackend } from './backend.js';
import { IdempotencyKey, QueueAttempt, QueueMessageId, QueueTraceId } from './context.js';
import { attemptOf, type DeadLetterReason, type ReceivedMessage } from './envelope.js';
import { DEFAULT_MAX_BODY_BYTES } from './client.js';
import { openBackend, redact } from './registry.js';
import { checkQueueable, decodeCallBody, newReader, queueProtocol } from './thrift-body.js';

export interface QueueServerOptions extends ThriftStackOptions, BackendOptions {
  /** Handlers running at once, at most; the consumer receives no more than it can run (default 64). */
  concurrency?: number;
  /** Receive calls in flight at once (default 1 for Redis, 4 for SQS, whose receives return ≤ 10 messages). */
  pollers?: number;
  /** Long-poll wait per receive, ms (default 20,000; Redis re-checks due retries every 500 ms anyway). */
  waitMs?: number;
  /** How long a received message stays leased to this consumer before another may take it, ms (default 30,000). Extended every third of it while its handler runs. */
  leaseMs?: number;
  /** Attempts before a failing message is dead-lettered (default 5). */
  maxAttempts?: number;
  /**
   * Deliveries of one message before it is dead-lettered `max-deliveries` (default maxAttempts × 4):
   * the bound for a message whose consumers die on it where redeliveries are not attempts (NATS).
   */
  maxDeliveries?: number;
  /** Delay before attempt n + 1 after attempt n failed, ms (default: equal jitter from 1 s, doubling, ≤ 15 min). */
  retryDelay?: (attempt: number) => number;
  /** Largest body accepted, bytes (default 1 MiB): bigger ones are dead-lettered `too-large` unread. */
  maxBodyBytes?: number;
  /** Only these methods are served; the others are dead-lettered `unknown-method` (default: all). */
  methods?: readonly string[];
}

export interface QueueServer {
  readonly destination: string;
  readonly stats: StatsRegistry;
  readonly stack: Stack;
  /** Handlers running now. */
  readonly running: number;
  /** What this consumer did, counted since it started. */
  readonly counts: Readonly<QueueCounts>;
  /** The broker adapter (stats, peek). */
  readonly backend: QueueBackend;
  /** Stops receiving, lets running handlers finish for `graceMs` (default 10,000), releases the rest, closes. */
  close(graceMs?: number): Promise<void>;
}

export interface QueueCounts {
  received: number;
  acked: number;
  retried: number;
  deadLettered: number;
  released: number;
  extended: number;
  brokerErrors: number;
}

export const QUEUE_SERVER_DEFAULTS = {
  concurrency: 64,
  waitMs: 20_000,
  leaseMs: 30_000,
  maxAttempts: 5,
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
} as const;

/** One received message as a request of the server stack. */
export class QueueRequest implements ServerRequest {
  readonly method: string;
  readonly oneway = false; // the consumer needs every outcome: it decides ack, retry or dead letter
  readonly receivedAt = performance.now();
  leasedAt = this.receivedAt;

  constructor(
    readonly desc: MethodDesc,
    readonly args: unknown[],
    readonly deadline: number | undefined,
    readonly values: ContextValues | undefined,
    readonly message: ReceivedMessage,
    readonly attempt: number,
  ) {
    this.method = desc.name;
  }
}

/** The "answers" of the server stack, as broker operations. */
class QueueOutcomeCodec implements ServerCodec<ReceivedMessage, QueueConsumer, QueueRequest> {
  constructor(private readonly thrift: ThriftServerCodec) {}
  decode(): undefined {
    return undefined; // the consumer decodes itself: a bad message is dead-lettered, not a closed connection
  }
  writeReply(out: QueueConsumer, req: QueueRequest): void {
    out.succeeded(req);
  }
  isDeclared(req: QueueRequest, err: unknown): boolean {
    return this.thrift.isDeclared({ desc: req.desc } as never, err);
  }
  writeDeclared(out: QueueConsumer, req: QueueRequest, err: unknown): void {
    out.finalFailure(req, 'rejected', `${req.method} threw its declared exception ${describeError(err, 200)}`);
  }
  writeError(out: QueueConsumer, req: QueueRequest, _kind: ServerErrorKind, message: string): void {
    out.failed(req, message);
  }
  writeOverloaded(out: QueueConsumer, req: QueueRequest, message: string): void {
    out.failed(req, message);
  }
  writeUnknown(): void {}
}

class QueueSession extends ServerSession<QueueConsumer, QueueRequest> {
  private isClosed = false;
  private drained: (() => void) | undefined;

  get closed(): boolean {
    return this.isClosed;
  }
  close(err?: ScalesError): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.abortAll(err ?? new ClosedError('queue consumer closed'));
    this.drained?.();
  }
  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.drained = resolve));
  }
  protected settled(): void {
    this.out.slotFreed();
    if (this.inFlight === 0) this.drained?.();
  }
  run(req: QueueRequest): void {
    this.serve(req, req.receivedAt);
  }
  /** A context settled after close (graceMs passed): its message was already released. */
  override settle(ctx: ServerRequestContext<QueueRequest>, ok: boolean, outcome: unknown): void {
    if (this.isClosed && !ctx.settled) {
      ctx.settled = true;
      this.inFlight--;
      return;
    }
    super.settle(ctx, ok, outcome);
  }
}

/** The receive loop and the broker side of every outcome. */
class QueueConsumer {
  readonly counts: QueueCounts = { received: 0, acked: 0, retried: 0, deadLettered: 0, released: 0, extended: 0, brokerErrors: 0 };
  session!: QueueSession;
  private readonly stop = new AbortController();
  private readonly running = new Set<QueueRequest>();
  /** Slots taken by receives in flight (so concurrency is never exceeded). */
  private reserved = 0;
  private slotWaiters: (() => void)[] = [];
  private ackBuffer: ReceivedMessage[] = [];
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly ops = new Set<Promise<void>>();
  private extendTimer: NodeJS.Timeout | undefined;
  private loops: Promise<void>[] = [];
  private readonly reader = newReader();
  private readonly deadCounters = new Map<string, Counter>();

  constructor(
    readonly backend: QueueBackend,
    private readonly service: ServiceDesc,
    private readonly protocol: ThriftProtocol,
    private readonly o: Required<Pick<QueueServerOptions, 'concurrency' | 'pollers' | 'waitMs' | 'leaseMs' | 'maxAttempts' | 'maxDeliveries' | 'retryDelay' | 'maxBodyBytes'>>,
    private readonly served: ReadonlySet<string>,
    private readonly onError: ErrorHook | undefined,
    private readonly scope: StatsScope,
  ) {}

  get inFlight(): number {
    return this.running.size;
  }

  start(): void {
    for (let i = 0; i < this.o.pollers; i++) this.loops.push(this.pollLoop());
    // Checked every sixth of the lease, renewed past a third: at most half of it has gone by. (Checked
    // every third, a renewal could wait two thirds, and a slow broker under load let an SQS lease of
    // 2 s run out before it landed: a second consumer ran the message.)
    const due = Math.max(50, Math.floor(this.o.leaseMs / 3));
    this.extendTimer = setInterval(() => this.extendLeases(due), Math.max(25, Math.floor(this.o.leaseMs / 6)));
    this.extendTimer.unref();
  }

  private free(): number {
    return this.o.concurrency - this.running.size - this.reserved;
  }

  slotFreed(): void {
    const w = this.slotWaiters;
    this.slotWaiters = [];
    for (const f of w) f();
  }

  private async pollLoop(): Promise<void> {
    if (this.stop.signal.aborted) return;
    // A signal of this poller's own, following the consumer's: a broker client adds a listener
    // per request (the AWS SDK does), and 32 pollers on one signal would make Node warn of a leak.
    const own = new AbortController();
    const follow = { aborted: (reason: unknown) => own.abort(reason) };
    watchAbort(this.stop.signal, follow);
    try {
      await this.poll(own.signal);
    } finally {
      unwatchAbort(this.stop.signal, follow);
    }
  }

  private async poll(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const n = Math.min(this.free(), this.backend.maxBatch);
      if (n <= 0) {
        await new Promise<void>((resolve) => this.slotWaiters.push(resolve)); // stopReceiving wakes them too
        continue;
      }
      this.reserved += n;
      let msgs: ReceivedMessage[];
      try {
        msgs = await this.backend.receive(n, this.o.waitMs, this.o.leaseMs, signal);
        failures = 0;
      } catch (err) {
        this.reserved -= n;
        if (signal.aborted) break;
        this.counts.brokerErrors++;
        report(this.onError, err, `receiving from ${this.backend.destination}`);
        failures++;
        await sleep(Math.min(2000, 50 * 2 ** Math.min(failures, 6)), signal);
        continue;
      }
      this.reserved -= n;
      if (signal.aborted) {
        // Received while stopping: give them back untouched.
        if (msgs.length > 0) this.track(this.backend.release(msgs).then(() => void (this.counts.released += msgs.length)));
        break;
      }
      for (const m of msgs) this.handle(m);
    }
  }

  private handle(m: ReceivedMessage): void {
    this.counts.received++;
    const a = m.attributes;
    if (typeof a === 'string') return this.deadLetter(m, 'bad-attributes', a);
    if (m.body === undefined) return this.deadLetter(m, 'not-thrift', 'the body is not base64 of a Thrift message');
    if (m.body.length > this.o.maxBodyBytes) return this.deadLetter(m, 'too-large', `body of ${m.body.length} bytes, over maxBodyBytes (${this.o.maxBodyBytes})`);
    const attempt = attemptOf(m);
    if (attempt > this.o.maxAttempts) {
      return this.deadLetter(m, 'max-attempts', `delivered ${attempt} times (maxAttempts ${this.o.maxAttempts}): its consumers died or stopped before it finished`);
    }
    if (m.deliveryCount > this.o.maxDeliveries) {
      return this.deadLetter(m, 'max-deliveries', `delivered ${m.deliveryCount} times at attempt ${attempt} (maxDeliveries ${this.o.maxDeliveries}): its consumers died or stopped before it finished`);
    }
    if (a.deadline !== undefined && a.deadline <= Date.now()) {
      return this.deadLetter(m, 'deadline-expired', `deadline ${new Date(a.deadline).toISOString()} passed ${Date.now() - a.deadline} ms before attempt ${attempt}`);
    }
    if (!this.served.has(a.method) && Object.hasOwn(this.service.methods, a.method)) {
      return this.deadLetter(m, 'unknown-method', `this consumer does not serve ${a.method}`);
    }
    const call = decodeCallBody(this.protocol, this.reader, this.service, m.body, a.method);
    if (!('method' in call)) return this.deadLetter(m, call.reason, call.detail);
    const values = new ContextValues();
    values.set(QueueAttempt, attempt);
    values.set(QueueMessageId, m.id);
    values.set(IdempotencyKey, a.idempotencyKey === '' ? m.id : a.idempotencyKey);
    if (a.traceId !== undefined) values.set(QueueTraceId, a.traceId);
    const req = new QueueRequest(call.method, call.args, a.deadline, values, m, attempt);
    this.running.add(req);
    this.session.run(req);
  }

  /** The handler succeeded: ack (batched). */
  succeeded(req: QueueRequest): void {
    this.running.delete(req);
    this.ackBuffer.push(req.message);
    if (this.ackBuffer.length >= this.backend.maxBatch) this.flushAcks();
    else this.ackTimer ??= setTimeout(() => this.flushAcks(), 2);
  }

  /** The handler failed (threw, timed out): retry later, or dead-letter at maxAttempts. */
  failed(req: QueueRequest, why: string): void {
    this.running.delete(req);
    if (req.attempt >= this.o.maxAttempts) return this.deadLetter(req.message, 'max-attempts', `attempt ${req.attempt} of ${this.o.maxAttempts} failed: ${why}`);
    const delay = Math.max(0, this.o.retryDelay(req.attempt));
    this.track(
      this.backend.retry(req.message, req.attempt + 1, delay).then(
        () => void this.counts.retried++,
        (err: unknown) => this.brokerFailed(err, `retrying ${req.message.id}`),
      ),
    );
  }

  finalFailure(req: QueueRequest, reason: DeadLetterReason, detail: string): void {
    this.running.delete(req);
    this.deadLetter(req.message, reason, detail);
  }

  private deadLetter(m: ReceivedMessage, reason: DeadLetterReason, detail: string): void {
    let c = this.deadCounters.get(reason);
    if (c === undefined) this.deadCounters.set(reason, (c = this.scope.scope('dead_letter', reason).counter('messages')));
    c.incr();
    report(this.onError, new Error(`dead-lettered ${m.id} (${reason}): ${detail}`), `queue ${this.backend.destination}`);
    this.track(
      this.backend.deadLetter(m, reason, detail).then(
        () => void this.counts.deadLettered++,
        (err: unknown) => this.brokerFailed(err, `dead-lettering ${m.id}`),
      ),
    );
  }

  private flushAcks(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const batch = this.ackBuffer;
    if (batch.length === 0) return;
    this.ackBuffer = [];
    this.track(
      this.backend.ack(batch).then(
        () => void (this.counts.acked += batch.length),
        (err: unknown) => this.brokerFailed(err, `acking ${batch.length} messages`),
      ),
    );
  }

  /** A broker operation failed: the message stays leased and comes back after its lease (at-least-once). */
  private brokerFailed(err: unknown, what: string): void {
    this.counts.brokerErrors++;
    report(this.onError, err, `${what} on ${this.backend.destination}`);
  }

  private extendLeases(after: number): void {
    const now = performance.now();
    const due: QueueRequest[] = [];
    for (const r of this.running) if (now - r.leasedAt >= after) due.push(r);
    if (due.length === 0) return;
    for (const r of due) r.leasedAt = now;
    this.track(
      this.backend
        .extend(
          due.map((r) => r.message),
          this.o.leaseMs,
        )
        .then(
          () => void (this.counts.extended += due.length),
          (err: unknown) => this.brokerFailed(err, 'extending leases'),
        ),
    );
  }

  private track(p: Promise<void>): void {
    this.ops.add(p);
    void p.finally(() => this.ops.delete(p));
  }

  /** Stop receiving (running handlers go on). */
  async stopReceiving(): Promise<void> {
    this.stop.abort(new ClosedError('queue consumer stopping'));
    this.slotFreed();
    await Promise.all(this.loops);
  }

  /** After the grace period: give back the messages whose handlers still run, finish broker work. */
  async finish(): Promise<void> {
    if (this.extendTimer !== undefined) clearInterval(this.extendTimer);
    const left = [...this.running].map((r) => r.message);
    this.running.clear();
    if (left.length > 0) this.track(this.backend.release(left).then(() => void (this.counts.released += left.length)));
    this.flushAcks();
    while (this.ops.size > 0) await Promise.allSettled([...this.ops]);
    await this.backend.close();
  }
}

/** Waits `ms`, or less if `signal` aborts; removes its listener either way (the signal lives as long as the poller). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const wake = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', wake);
      resolve();
    };
    const t = setTimeout(wake, ms);
    signal.addEventListener('abort', wake, { once: true });
  });
}

function checkPositive(name: string, v: number | undefined): void {
  if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got ${String(v)}`);
}

/** `Queue.serve(Service, handler, 'redis://127.0.0.1:6379/emails', options)`. */
export async function serveQueue<Handler extends object>(service: ServiceDesc<unknown, Handler>, handler: Handler, dest: string, o: QueueServerOptions = {}): Promise<QueueServer> {
  for (const k of ['concurrency', 'pollers', 'waitMs', 'leaseMs', 'maxAttempts', 'maxDeliveries', 'maxBodyBytes', 'requestTimeout'] as const) checkPositive(k, o[k]);
  const svc = service as ServiceDesc<unknown, object>;
  checkQueueable(svc, o.methods);
  const served = new Set(o.methods ?? Object.keys(svc.methods));
  // Every method needs a function only when served: a subset consumer may lack the others.
  const servedHandler = o.methods === undefined ? handler : pick(handler, served);
  const maxBodyBytes = o.maxBodyBytes ?? QUEUE_SERVER_DEFAULTS.maxBodyBytes;
  const protocol = queueProtocol(maxBodyBytes);
  const thriftCodec = new ThriftServerCodec(protocol, svc);
  const codec = new QueueOutcomeCodec(thriftCodec);
  const subset: ServiceDesc<unknown, object> = o.methods === undefined ? svc : { name: svc.name, methods: Object.fromEntries([...served].map((n) => [n, svc.methods[n]!])) };
  // The error text goes to the dead-letter record, read by the queue's operators, not to a
  // remote caller: keep it unless the options say otherwise.
  const stackOptions = { ...o, exposeErrors: o.exposeErrors ?? true };
  const { stack, stats, scope, onError } = thriftServerStack<QueueRequest>(subset, servedHandler, stackOptions, (req, err) => codec.isDeclared(req, err));
  const backend = await openBackend(dest, { group: o.group, consumer: o.consumer, create: o.create, deadLetter: o.deadLetter });
  const concurrency = o.concurrency ?? QUEUE_SERVER_DEFAULTS.concurrency;
  const maxAttempts = o.maxAttempts ?? QUEUE_SERVER_DEFAULTS.maxAttempts;
  const consumer = new QueueConsumer(
    backend,
    svc,
    protocol,
    {
      concurrency,
      pollers: o.pollers ?? (backend.maxBatch <= 10 ? 4 : 1),
      waitMs: o.waitMs ?? QUEUE_SERVER_DEFAULTS.waitMs,
      leaseMs: o.leaseMs ?? QUEUE_SERVER_DEFAULTS.leaseMs,
      maxAttempts,
      maxDeliveries: o.maxDeliveries ?? maxAttempts * 4,
      retryDelay: o.retryDelay ?? equalJitterBackoff(1000, 900_000),
      maxBodyBytes,
    },
    served,
    onError,
    scope,
  );
  const dispatcher = new ServerDispatcher<QueueConsumer, QueueRequest>(codec as ServerCodec<unknown, QueueConsumer, QueueRequest>, stack.build() as unknown as ServerService<QueueRequest>, {
    maxConcurrentPerConnection: concurrency,
    onError,
  });
  const session = new QueueSession(dispatcher, consumer, redact(dest));
  consumer.session = session;
  dispatcher.add(session);
  for (const [name, read] of Object.entries({
    received: () => consumer.counts.received,
    acked: () => consumer.counts.acked,
    retried: () => consumer.counts.retried,
    dead_lettered: () => consumer.counts.deadLettered,
    released: () => consumer.counts.released,
    broker_errors: () => consumer.counts.brokerErrors,
  })) {
    scope.counterFn(`queue_${name}`, read);
  }
  consumer.start();
  let closing: Promise<void> | undefined;
  return {
    destination: redact(dest),
    stats,
    stack,
    backend,
    get running() {
      return consumer.inFlight;
    },
    counts: consumer.counts,
    close: (graceMs = 10_000) => {
      closing ??= (async () => {
        await consumer.stopReceiving();
        await dispatcher.close(graceMs);
        session.close();
        await consumer.finish();
      })();
      return closing;
    },
  };
}

function pick(handler: object, names: ReadonlySet<string>): object {
  const out: Record<string, unknown> = {};
  for (const n of names) {
    const fn = (handler as Record<string, unknown>)[n];
    out[n] = typeof fn === 'function' ? fn.bind(handler) : fn;
  }
  return out;
}
