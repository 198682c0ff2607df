/**
 * NATS JetStream backend over the `nats` npm package (an optional peer dependency, imported on
 * first use). Mapping (docs/queue.md, "NATS JetStream"):
 *   queue `orders`     a stream `orders` (file storage, interest retention) on the subject `orders`
 *   group              a durable pull consumer of that name (default `scales`): one per service = multicast
 *   lease              the consumer's AckWait; extend = `+WPI` (working), release = `-NAK`
 *   attempt            our own count, not JetStream's `num_delivered`: deliveries a broker crash cut
 *                      off are redelivered and counted by JetStream, but never reached a handler.
 *                      A retry stores attempt + 1 in the KV bucket `<queue>-attempts` (key
 *                      `<group>.<seq>`), then NAKs; a redelivery reads it (absent: the header's).
 *                      `num_delivered` only bounds a message its consumers die on (maxDeliveries).
 *   retry with delay   `-NAK {"delay": ...}`: the broker keeps the message and its delay, so no new
 *                      copy (a copy on the queue's subject would reach every group, not only this one)
 *   dead letters       a stream `orders-dlq` (subject `orders-dlq`): published, confirmed, then the original acked
 *   attributes         NATS message headers of the names in ATTRIBUTE_NAMES
 * The stream has interest retention: JetStream removes a message once every group has acked it.
 */
import { hostname } from 'node:os';
import { InvalidArgumentError } from '../../../core/errors.js';
import type { BackendOptions, DeadLetter, QueueBackend, QueueStats } from '../backend.js';
import { attemptOf, attributeFields, type DeadLetterReason, type OutgoingMessage, parseAttributes, type ReceivedMessage } from '../envelope.js';
import { asBrokerError, brokerError, type BrokerFailure } from '../errors.js';
import { redact } from '../registry.js';

type Nats = typeof import('nats');
type Connection = Awaited<ReturnType<Nats['connect']>>;
type JetStream = ReturnType<Connection['jetstream']>;
type Manager = Awaited<ReturnType<Connection['jetstreamManager']>>;
type JsMsg = import('nats').JsMsg;
type Headers = import('nats').MsgHdrs;

export const NATS_LIBRARY = 'nats';
/** Where dead letters go when no `deadLetter` option names a stream: `orders` → `orders-dlq`. */
export const NATS_DEAD_LETTER_SUFFIX = '-dlq';
/** Longest one pull request waits before the receive loop looks again (ms); JetStream wants ≥ 1 s. */
const MAX_PULL_MS = 5000;
/** A pull request not answered this long after its expiry was lost (ms). */
const PULL_GRACE_MS = 3000;
/** AckWait of a group made before any consumer asked for a lease (the consumer's default leaseMs). */
const DEFAULT_LEASE_MS = 30_000;
/** Messages a group may hold unacked (in handlers and waiting for a retry's delay), at most. */
const MAX_ACK_PENDING = 20_000;
/** Each publish waits this long for the broker's confirmation (ms). */
const PUBLISH_TIMEOUT_MS = 15_000;
/** nats-server's default max_payload is 1 MiB; headers need a little of it. */
const MAX_BODY_BYTES = 1024 * 1024 - 4096;
const NAME = /^[A-Za-z0-9_-]{1,200}$/;
/** The KV bucket of the attempt counts of `orders`: `orders-attempts` (stream `KV_orders-attempts`). */
export const NATS_ATTEMPTS_SUFFIX = '-attempts';
/** An attempt count left behind (its message's ack lost) is removed by the broker after this long (ms). */
const ATTEMPTS_TTL_MS = 7 * 24 * 3600_000;

let library: Promise<Nats> | undefined;
function loadNats(): Promise<Nats> {
  library ??= import(NATS_LIBRARY).catch((err: unknown) => {
    library = undefined;
    throw new InvalidArgumentError(`nats:// queues need the '${NATS_LIBRARY}' package: npm install ${NATS_LIBRARY}`, { cause: err });
  }) as Promise<Nats>;
  return library;
}

export async function openNatsBackend(url: URL, raw: string, o: BackendOptions): Promise<QueueBackend> {
  const n = await loadNats();
  const destination = redact(raw);
  const queue = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const group = o.group ?? url.searchParams.get('group') ?? 'scales';
  const dead = o.deadLetter ?? `${queue}${NATS_DEAD_LETTER_SUFFIX}`;
  for (const [what, name] of [
    ['queue', queue],
    ['group', group],
    ['dead-letter stream', dead],
  ] as const) {
    if (!NAME.test(name)) throw new InvalidArgumentError(`nats queue '${destination}': the ${what} name '${name}' must be 1-200 letters, digits, '-' or '_' (nats://host:4222/orders)`);
  }
  let nc: Connection;
  try {
    nc = await n.connect({
      servers: `${url.hostname || '127.0.0.1'}:${url.port === '' ? 4222 : url.port}`,
      user: url.username === '' ? undefined : decodeURIComponent(url.username),
      pass: url.password === '' ? undefined : decodeURIComponent(url.password),
      token: url.searchParams.get('token') ?? undefined,
      name: `scales-${hostname()}-${process.pid}`,
      timeout: 5000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: false,
      // nats.js otherwise captures a stack trace (new Error()) per request, every publish included:
      // ~16 % of the enqueue path's CPU in a profile; our errors name the operation themselves.
      noAsyncTraces: true,
    });
  } catch (err) {
    throw asBrokerError(err, 'unreachable', `cannot connect to NATS at ${destination}`, destination);
  }
  const backend = new NatsBackend(n, nc, nc.jetstream({ timeout: PUBLISH_TIMEOUT_MS }), await nc.jetstreamManager(), destination, queue, group, dead, o.create !== false);
  try {
    if (o.create !== false) {
      await backend.ensureStream(queue, 'interest');
      await backend.ensureStream(dead, 'limits');
      await backend.ensureFirstGroup();
      await backend.attempts();
    }
  } catch (err) {
    await nc.close().catch(() => {});
    throw err;
  }
  return backend;
}

interface NatsHandle {
  readonly msg: JsMsg;
  /** The key of this message's attempt count in the KV bucket, when it has one (removed once the message is done). */
  readonly attemptKey: string | undefined;
}

type Kv = Awaited<ReturnType<JetStream['views']['kv']>>;

class NatsBackend implements QueueBackend {
  readonly kind = 'nats';
  readonly maxBatch = 1000;
  readonly maxBodyBytes = MAX_BODY_BYTES;
  private consumerReady: number | undefined; // the AckWait it was made with
  private closed = false;
  private kv: Promise<Kv> | undefined;

  constructor(
    private readonly n: Nats,
    private readonly nc: Connection,
    private readonly js: JetStream,
    private readonly jsm: Manager,
    readonly destination: string,
    private readonly queue: string,
    private readonly group: string,
    private readonly dead: string,
    private readonly create: boolean,
  ) {}

  /** The KV bucket of attempt counts (made when missing, unless `create: false`). */
  attempts(): Promise<Kv> {
    this.kv ??= this.js.views
      .kv(`${this.queue}${NATS_ATTEMPTS_SUFFIX}`, { history: 1, ttl: ATTEMPTS_TTL_MS, storage: this.n.StorageType.File, bindOnly: !this.create, timeout: PUBLISH_TIMEOUT_MS })
      .catch((err: unknown) => {
        this.kv = undefined;
        this.fail(err, 'opening the attempts bucket');
      });
    return this.kv;
  }

  private fail(err: unknown, what: string, kind?: BrokerFailure): never {
    if (this.closed) throw brokerError('closed', `${what}: the queue client is closed`, this.destination, err);
    throw asBrokerError(err, kind ?? classify(err), `${what} on ${this.destination}`, this.destination);
  }

  /** The stream `name` on the subject `name`, file storage; made when missing. */
  async ensureStream(name: string, retention: 'interest' | 'limits'): Promise<void> {
    try {
      await this.jsm.streams.info(name);
      return;
    } catch (err) {
      if (!isNotFound(err)) this.fail(err, `looking up stream ${name}`);
    }
    try {
      await this.jsm.streams.add({
        name,
        subjects: [name],
        storage: this.n.StorageType.File,
        retention: retention === 'interest' ? this.n.RetentionPolicy.Interest : this.n.RetentionPolicy.Limits,
        discard: this.n.DiscardPolicy.New,
        duplicate_window: this.n.nanos(120_000),
      });
    } catch (err) {
      if (!/already in use/i.test(String((err as Error)?.message))) this.fail(err, `creating stream ${name}`);
    }
  }

  /**
   * An interest-retention stream drops what is published while it has no consumer: the first
   * backend opened on a queue (producer or consumer) makes its group's consumer, so calls sent
   * before any worker ever started wait for it. Groups made later get what is still retained.
   */
  async ensureFirstGroup(): Promise<void> {
    try {
      const si = await this.jsm.streams.info(this.queue);
      if (si.state.consumer_count === 0) await this.ensureConsumer(DEFAULT_LEASE_MS);
    } catch (err) {
      this.fail(err, `looking up stream ${this.queue}`);
    }
  }

  /** The group's durable pull consumer, made (or its AckWait changed) to match `leaseMs`. */
  private async ensureConsumer(leaseMs: number): Promise<void> {
    const ackWait = Math.max(1000, Math.round(leaseMs));
    if (this.consumerReady === ackWait) return;
    const config = {
      durable_name: this.group,
      ack_policy: this.n.AckPolicy.Explicit,
      deliver_policy: this.n.DeliverPolicy.All,
      ack_wait: this.n.nanos(ackWait),
      max_deliver: -1, // the consumer dead-letters at maxAttempts itself, with the reason
      max_ack_pending: MAX_ACK_PENDING,
    };
    try {
      const info = await this.jsm.consumers.info(this.queue, this.group);
      if (info.config.ack_wait !== config.ack_wait) await this.jsm.consumers.update(this.queue, this.group, { ack_wait: config.ack_wait });
    } catch (err) {
      if (!isNotFound(err)) this.fail(err, `looking up consumer ${this.group}`);
      try {
        await this.jsm.consumers.add(this.queue, config);
      } catch (e) {
        if (!/already in use|already exists/i.test(String((e as Error)?.message))) this.fail(e, `creating consumer ${this.group}`);
      }
    }
    this.consumerReady = ackWait;
  }

  async send(messages: readonly OutgoingMessage[]): Promise<(Error | undefined)[]> {
    if (this.closed) this.fail(new Error('closed'), 'publish');
    const results = await Promise.allSettled(
      messages.map((m) => {
        const h = this.n.headers();
        for (const [k, v] of attributeFields(m.attributes)) h.append(k, headerValue(v)); // a fresh block: append, not set (set searches it twice)
        // The idempotency key is JetStream's de-duplication id: a producer's resend of the same call within 2 min is dropped.
        const msgID = m.attributes.idempotencyKey === '' ? undefined : m.attributes.idempotencyKey;
        return this.js.publish(this.queue, m.body, { headers: h, msgID, timeout: PUBLISH_TIMEOUT_MS });
      }),
    );
    const out = results.map((r) => (r.status === 'fulfilled' ? undefined : asBrokerError(r.reason, classify(r.reason), `publish on ${this.destination}`, this.destination)));
    if (out.length > 0 && out.every((e) => e !== undefined) && out[0]!.code === 'SCALES_ERR_CONNECT') throw out[0];
    return out;
  }

  async receive(max: number, waitMs: number, leaseMs: number, signal: AbortSignal): Promise<ReceivedMessage[]> {
    if (this.closed || signal.aborted) return [];
    await this.ensureConsumer(leaseMs);
    // What is there now, at once; else wait for one, then take what came with it.
    let got = await this.pull(max, 0, signal);
    if (got.length === 0 && !signal.aborted) {
      got = await this.pull(1, Math.min(MAX_PULL_MS, Math.max(1000, waitMs)), signal);
      if (got.length > 0 && max > 1 && !signal.aborted) got = got.concat(await this.pull(max - 1, 0, signal));
    }
    const out = got.map((m) => received(m));
    // Only redeliveries look up a stored attempt: first deliveries cost no promise or round trip.
    return out.some((m) => m.deliveryCount > 1) ? Promise.all(out.map((m) => (m.deliveryCount > 1 ? this.withStoredAttempt(m) : m))) : out;
  }

  /**
   * A first delivery is attempt `scales.attempt`; a redelivery is the attempt its last retry
   * stored, else the header's too: a redelivery after a lost delivery, a lease expiry or a
   * release is not a new attempt.
   */
  private async withStoredAttempt(m: ReceivedMessage): Promise<ReceivedMessage> {
    const h = m.handle as NatsHandle;
    const key = `${this.group}.${h.msg.seq}`;
    // Unreadable (broker flapping): the header's attempt; maxDeliveries still bounds the message.
    const stored = await this.attempts()
      .then((kv) => kv.get(key))
      .catch(() => null);
    if (stored === null || stored.operation !== 'PUT') return m;
    const n = Number(stored.string());
    // attemptKey: the entry is removed once the message is done.
    return { ...m, attempt: Number.isInteger(n) && n > m.attempt! ? n : m.attempt, handle: { msg: h.msg, attemptKey: key } satisfies NatsHandle };
  }

  /** One pull request: `batch` messages at most, waiting `expiresMs` (0: only what is there now). */
  private async pull(batch: number, expiresMs: number, signal: AbortSignal): Promise<JsMsg[]> {
    const out: JsMsg[] = [];
    let it: ReturnType<JetStream['fetch']>;
    try {
      it = this.js.fetch(this.queue, this.group, expiresMs === 0 ? { batch, no_wait: true } : { batch, expires: expiresMs });
    } catch (err) {
      this.fail(err, 'pull');
    }
    const stop = (): void => it.stop();
    signal.addEventListener('abort', stop, { once: true });
    // A pull request lost with the connection (broker restart) is never answered: nats.js would wait forever.
    let lost = false;
    const guard = setTimeout(() => {
      lost = true;
      it.stop();
    }, expiresMs + PULL_GRACE_MS);
    try {
      for await (const m of it) out.push(m);
    } catch (err) {
      if (this.closed) return out;
      if (isNotFound(err)) this.consumerReady = undefined; // deleted under us: made again next time
      if (out.length === 0) this.fail(err, 'pull');
    } finally {
      clearTimeout(guard);
      signal.removeEventListener('abort', stop);
    }
    if (lost && out.length === 0 && !signal.aborted) this.fail(new Error(`no answer to a pull request in ${expiresMs + PULL_GRACE_MS} ms`), 'pull', 'timeout');
    return out;
  }

  async ack(messages: readonly ReceivedMessage[]): Promise<void> {
    if (messages.length === 0) return;
    for (const m of messages) (m.handle as NatsHandle).msg.ack();
    await this.flush('ack');
    this.forgetAttempts(messages);
  }

  /** Done messages' attempt counts: removed best-effort (a leftover expires with the bucket's TTL). */
  private forgetAttempts(messages: readonly ReceivedMessage[]): void {
    for (const m of messages) {
      const key = (m.handle as NatsHandle).attemptKey;
      if (key !== undefined)
        void this.attempts()
          .then((kv) => kv.purge(key))
          .catch(() => {});
    }
  }

  async retry(message: ReceivedMessage, attempt: number, delayMs: number): Promise<void> {
    // The count is stored before the NAK: a crash in between redelivers it (after the lease) as
    // attempt + 1 without the delay, never as the failed attempt again.
    const h = message.handle as NatsHandle;
    try {
      await (await this.attempts()).put(`${this.group}.${h.msg.seq}`, String(attempt));
    } catch (err) {
      this.fail(err, 'storing the attempt (retry)');
    }
    // The broker redelivers this very message after the delay.
    h.msg.nak(Math.max(0, Math.round(delayMs)));
    await this.flush('nak (retry)');
  }

  async extend(messages: readonly ReceivedMessage[], _leaseMs: number): Promise<void> {
    for (const m of messages) (m.handle as NatsHandle).msg.working();
    await this.flush('working (extend)');
  }

  async release(messages: readonly ReceivedMessage[]): Promise<void> {
    for (const m of messages) (m.handle as NatsHandle).msg.nak();
    await this.flush('nak (release)');
  }

  async deadLetter(message: ReceivedMessage, reason: DeadLetterReason, detail: string): Promise<void> {
    const msg = (message.handle as NatsHandle).msg;
    const h = this.n.headers();
    for (const [k, vs] of msg.headers ?? []) for (const v of vs) h.append(k, v);
    h.set('scales.attempt', String(attemptOf(message)));
    h.set('scales.reason', reason);
    h.set('scales.detail', headerValue(detail.slice(0, 1024) || reason));
    h.set('scales.source-id', message.id);
    h.set('scales.group', this.group);
    try {
      await this.js.publish(this.dead, msg.data, { headers: h, timeout: PUBLISH_TIMEOUT_MS });
    } catch (err) {
      this.fail(err, 'publish (dead letter)');
    }
    msg.ack();
    await this.flush('ack (dead letter)');
    this.forgetAttempts([message]);
  }

  /** Waits until the server has read what was written (acks are fire-and-forget otherwise). */
  private async flush(what: string): Promise<void> {
    try {
      await this.nc.flush();
    } catch (err) {
      this.fail(err, what);
    }
  }

  async stats(): Promise<QueueStats> {
    let depth: number | undefined;
    let inFlight: number | undefined;
    try {
      const ci = await this.jsm.consumers.info(this.queue, this.group);
      depth = ci.num_pending;
      inFlight = ci.num_ack_pending;
    } catch (err) {
      if (!isNotFound(err)) this.fail(err, 'consumer info');
      // No such group yet: everything in the stream waits for it.
      depth = (await this.jsm.streams.info(this.queue).catch((e) => this.fail(e, 'stream info'))).state.messages;
      inFlight = 0;
    }
    const di = await this.jsm.streams.info(this.dead).catch((err) => (isNotFound(err) ? undefined : this.fail(err, 'stream info')));
    // A retry's delay is part of its message's ack-pending time: JetStream does not count it apart.
    return { depth, inFlight, delayed: undefined, deadLettered: di?.state.messages ?? 0 };
  }

  async peek(max: number, from: 'queue' | 'dead' = 'queue'): Promise<DeadLetter[] | ReceivedMessage[]> {
    const stream = from === 'dead' ? this.dead : this.queue;
    let si: Awaited<ReturnType<Manager['streams']['info']>>;
    try {
      si = await this.jsm.streams.info(stream);
    } catch (err) {
      if (isNotFound(err)) return [];
      this.fail(err, 'stream info');
    }
    if (si.state.messages === 0) return [];
    let seq = Math.max(1, si.state.first_seq);
    if (from === 'queue') {
      // The next messages the group will be handed: after the last one delivered to it.
      const ci = await this.jsm.consumers.info(this.queue, this.group).catch((err) => (isNotFound(err) ? undefined : this.fail(err, 'consumer info')));
      if (ci !== undefined) seq = Math.max(seq, ci.delivered.stream_seq + 1);
    }
    const out: { seq: number; data: Uint8Array; header: Headers | undefined }[] = [];
    for (; seq <= si.state.last_seq && out.length < max; seq++) {
      try {
        const sm = await this.jsm.streams.getMessage(stream, { seq });
        out.push({ seq: sm.seq, data: sm.data, header: sm.header });
      } catch (err) {
        if (!isNotFound(err)) this.fail(err, 'get message');
      }
    }
    const ms = out.map((s) => storedMessage(s.seq, s.data, s.header));
    if (from === 'queue') return ms;
    return ms.map((m, i) => {
      const get = headerGetter(out[i]!.header);
      return { message: m, reason: get('scales.reason') ?? '', detail: get('scales.detail') ?? '' };
    });
  }

  async purge(which: 'queue' | 'dead'): Promise<number | undefined> {
    let purged: number;
    try {
      purged = (await this.jsm.streams.purge(which === 'dead' ? this.dead : this.queue)).purged;
    } catch (err) {
      if (isNotFound(err)) return 0;
      this.fail(err, 'purge');
    }
    // The purged messages' attempt counts would otherwise sit in the bucket until its TTL (7 days).
    if (which === 'queue') {
      try {
        await this.jsm.streams.purge(`KV_${this.queue}${NATS_ATTEMPTS_SUFFIX}`);
      } catch (err) {
        if (!isNotFound(err)) this.fail(err, 'purging the attempts bucket');
      }
    }
    return purged;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.nc.flush().catch(() => {}); // acks written but not yet sent
    this.closed = true;
    await this.nc.close().catch(() => {});
  }
}

/** Reads the header block once: nats.js's has/get each copy and filter its key list (12 scans for 6 attributes). */
function headerGetter(h: Headers | undefined): (name: string) => string | undefined {
  if (h === undefined) return () => undefined;
  const first = new Map<string, string>();
  for (const [k, vs] of h) if (vs.length > 0 && !first.has(k)) first.set(k, vs[0]!);
  return (name) => first.get(name);
}

function received(m: JsMsg): ReceivedMessage {
  const body = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  const attributes = parseAttributes(headerGetter(m.headers));
  const handle: NatsHandle = { msg: m, attemptKey: undefined };
  const attempt = typeof attributes === 'string' ? 1 : attributes.attempt;
  return { id: String(m.seq), body, attributes, deliveryCount: m.info.deliveryCount, attempt, size: body.length, handle };
}

/** A message read from the stream itself (peek): it has no lease and cannot be acked. */
function storedMessage(seq: number, data: Uint8Array, header: Headers | undefined): ReceivedMessage {
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { id: String(seq), body, attributes: parseAttributes(headerGetter(header)), deliveryCount: 0, size: body.length, handle: undefined };
}

/** NATS header values are one line: CR/LF become spaces. */
function headerValue(v: string): string {
  return v.includes('\n') || v.includes('\r') ? v.replace(/[\r\n]+/g, ' ') : v;
}

function isNotFound(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { code?: number }; message?: string } | undefined;
  return e?.code === '404' || e?.api_error?.code === 404 || /not found/i.test(e?.message ?? '');
}

/** What a nats.js failure means for the caller. */
function classify(err: unknown): BrokerFailure {
  const e = err as { code?: string; message?: string } | undefined;
  switch (e?.code) {
    case 'CONNECTION_REFUSED':
    case 'CONNECTION_TIMEOUT':
      return 'unreachable';
    case 'TIMEOUT':
    case '408':
      return 'timeout';
    case 'DISCONNECT':
    case 'CONNECTION_CLOSED':
    case 'CONNECTION_DRAINING':
      return 'broken';
    case '503':
      return 'unreachable'; // no JetStream answering (not enabled, or the server is restarting)
    case 'MAX_PAYLOAD_EXCEEDED':
    case 'BAD_HEADER':
    case 'BAD_SUBJECT':
    case 'AUTHORIZATION_VIOLATION':
    case 'PERMISSIONS_VIOLATION':
      return 'rejected';
  }
  if (/maximum (messages|bytes)|insufficient resources|storage/i.test(e?.message ?? '')) return 'overloaded';
  return 'broken';
}
