/**
 * Amazon SQS backend over `@aws-sdk/client-sqs` (an optional peer dependency, imported on first
 * use). Bodies are base64 (SQS bodies are XML-safe text only); attributes are SQS message
 * attributes (envelope.ts). Visibility timeout = lease; ApproximateReceiveCount = delivery count.
 *
 * Retries re-send the message with attempt + 1 and DelaySeconds, then delete the old copy, rather
 * than ChangeMessageVisibility: SQS has no "attempt" of its own beyond the receive count, and a
 * re-sent copy carries its attempt in its attributes on every SQS-compatible server.
 * Dead letters are sent to the DLQ by the consumer (not by a RedrivePolicy) so they carry the reason.
 */
import { InvalidArgumentError } from '../../../core/errors.js';
import { type BackendOptions, DEAD_LETTER_SUFFIX, type DeadLetter, type QueueBackend, type QueueStats } from '../backend.js';
import { ATTRIBUTE_NAMES, attributeFields, type DeadLetterReason, type MessageAttributes, type OutgoingMessage, parseAttributes, type ReceivedMessage } from '../envelope.js';
import { asBrokerError, brokerError, type BrokerFailure } from '../errors.js';
import { redact } from '../registry.js';

type Sdk = typeof import('@aws-sdk/client-sqs');
type Client = InstanceType<Sdk['SQSClient']>;
type AttrValue = { DataType: string; StringValue?: string };

/** SQS's limit for one message, body and attributes together. */
const SQS_MAX_MESSAGE = 256 * 1024;
/** Longest SQS DelaySeconds. */
const MAX_DELAY_S = 900;
const NUMBER_ATTRIBUTES = new Set<string>([ATTRIBUTE_NAMES.attempt, ATTRIBUTE_NAMES.deadline]);

export const SQS_LIBRARY = '@aws-sdk/client-sqs';
let sdk: Promise<Sdk> | undefined;

function loadSdk(): Promise<Sdk> {
  sdk ??= import(SQS_LIBRARY).catch((err: unknown) => {
    sdk = undefined;
    throw new InvalidArgumentError(`sqs:// queues need the '${SQS_LIBRARY}' package: npm install ${SQS_LIBRARY}`, { cause: err });
  }) as Promise<Sdk>;
  return sdk;
}

interface SqsHandle {
  readonly receipt: string;
  readonly queueUrl: string;
  readonly attributes: Record<string, AttrValue>;
  readonly rawBody: string;
}

export async function openSqsBackend(url: URL, raw: string, o: BackendOptions): Promise<QueueBackend> {
  const s = await loadSdk();
  const region = url.searchParams.get('region') ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1';
  let endpoint: string | undefined;
  let name: string;
  let queueUrl: string | undefined;
  if (url.protocol === 'sqs:') {
    name = decodeURIComponent(url.hostname || url.pathname.replace(/^\/+/, ''));
  } else {
    const scheme = url.protocol === 'sqs+http:' ? 'http:' : 'https:';
    endpoint = `${scheme}//${url.host}`;
    queueUrl = `${endpoint}${url.pathname}`;
    name = decodeURIComponent(url.pathname.split('/').filter(Boolean).pop() ?? '');
  }
  if (name === '') throw new InvalidArgumentError(`sqs queue '${redact(raw)}': no queue name`);
  const client = new s.SQSClient({ region, endpoint, maxAttempts: 3 });
  const destination = redact(raw);
  const resolve = async (queue: string, fallback: string | undefined): Promise<string> => {
    try {
      if (o.create === false) {
        if (fallback !== undefined) return fallback;
        return (await client.send(new s.GetQueueUrlCommand({ QueueName: queue }))).QueueUrl!;
      }
      return (await client.send(new s.CreateQueueCommand({ QueueName: queue }))).QueueUrl!;
    } catch (err) {
      throw asBrokerError(err, classify(err), `opening SQS queue ${queue}`, destination);
    }
  };
  const mainUrl = await resolve(name, queueUrl);
  const deadName = o.deadLetter ?? `${name.replace(/\.fifo$/, '')}${DEAD_LETTER_SUFFIX.sqs}`;
  // The DLQ is resolved on first use: a producer never needs it.
  return new SqsBackend(s, client, destination, mainUrl, () => resolve(deadName, undefined));
}

class SqsBackend implements QueueBackend {
  readonly kind = 'sqs';
  readonly maxBatch = 10;
  /** base64 makes 3 bytes 4, and the attributes need room. */
  readonly maxBodyBytes = Math.floor(((SQS_MAX_MESSAGE - 2048) * 3) / 4);
  private deadUrl: Promise<string> | undefined;
  private closed = false;

  constructor(
    private readonly s: Sdk,
    private readonly client: Client,
    readonly destination: string,
    private readonly queueUrl: string,
    private readonly resolveDead: () => Promise<string>,
  ) {}

  private dead(): Promise<string> {
    this.deadUrl ??= this.resolveDead().catch((err: unknown) => {
      this.deadUrl = undefined;
      throw err;
    });
    return this.deadUrl;
  }

  private fail(err: unknown, what: string): never {
    if (this.closed) throw brokerError('closed', `${what}: the queue client is closed`, this.destination, err);
    throw asBrokerError(err, classify(err), `${what} on ${this.destination}`, this.destination);
  }

  async send(messages: readonly OutgoingMessage[]): Promise<(Error | undefined)[]> {
    const out: (Error | undefined)[] = new Array(messages.length).fill(undefined);
    for (let start = 0; start < messages.length; start += this.maxBatch) {
      const chunk = messages.slice(start, start + this.maxBatch);
      const entries = chunk.map((m, i) => ({ Id: String(i), MessageBody: m.body.toString('base64'), MessageAttributes: sqsAttributes(m.attributes) }));
      let r: { Failed?: { Id?: string; Code?: string; Message?: string; SenderFault?: boolean }[] };
      try {
        r = await this.client.send(new this.s.SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }));
      } catch (err) {
        if (start === 0) this.fail(err, 'SendMessageBatch');
        const e = asBrokerError(err, classify(err), `SendMessageBatch on ${this.destination}`, this.destination);
        for (let i = start; i < messages.length; i++) out[i] = e;
        return out;
      }
      for (const f of r.Failed ?? []) {
        const kind: BrokerFailure = f.SenderFault ? 'rejected' : 'overloaded';
        out[start + Number(f.Id)] = brokerError(kind, `SQS refused the message: ${f.Code ?? ''} ${f.Message ?? ''}`.trim(), this.destination);
      }
    }
    return out;
  }

  async receive(max: number, waitMs: number, leaseMs: number, signal: AbortSignal): Promise<ReceivedMessage[]> {
    if (this.closed || signal.aborted) return [];
    let r: { Messages?: SqsMessage[] };
    try {
      r = (await this.client.send(
        new this.s.ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: Math.max(1, Math.min(10, max)),
          WaitTimeSeconds: Math.max(0, Math.min(20, Math.round(waitMs / 1000))),
          VisibilityTimeout: Math.max(1, Math.ceil(leaseMs / 1000)),
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          // The older name too: SQS-compatible servers (local-aws-sqs) know only it.
          AttributeNames: ['All'],
        }),
        { abortSignal: signal },
      )) as { Messages?: SqsMessage[] };
    } catch (err) {
      if (this.closed || signal.aborted) return [];
      this.fail(err, 'ReceiveMessage');
    }
    return unique(r.Messages ?? []).map((m) => received(m, this.queueUrl));
  }

  async ack(messages: readonly ReceivedMessage[]): Promise<void> {
    for (let start = 0; start < messages.length; start += 10) {
      const chunk = messages.slice(start, start + 10);
      let r: { Failed?: { Id?: string; Message?: string }[] };
      try {
        r = (await this.client.send(
          new this.s.DeleteMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: chunk.map((m, i) => ({ Id: String(i), ReceiptHandle: (m.handle as SqsHandle).receipt })),
          }),
        )) as typeof r;
      } catch (err) {
        this.fail(err, 'DeleteMessageBatch');
      }
      const failed = r.Failed ?? [];
      if (failed.length > 0) this.fail(new Error(failed.map((f) => f.Message ?? 'failed').join('; ')), 'DeleteMessageBatch');
    }
  }

  async retry(message: ReceivedMessage, attempt: number, delayMs: number): Promise<void> {
    const h = message.handle as SqsHandle;
    const attributes = { ...h.attributes, [ATTRIBUTE_NAMES.attempt]: { DataType: 'Number', StringValue: String(attempt) } };
    try {
      await this.client.send(
        new this.s.SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: h.rawBody, MessageAttributes: attributes, DelaySeconds: Math.min(MAX_DELAY_S, Math.ceil(delayMs / 1000)) }),
      );
    } catch (err) {
      this.fail(err, 'SendMessage (retry)');
    }
    await this.ack([message]);
  }

  async extend(messages: readonly ReceivedMessage[], leaseMs: number): Promise<void> {
    await this.visibility(messages, Math.max(1, Math.ceil(leaseMs / 1000)), 'extend');
  }

  async release(messages: readonly ReceivedMessage[]): Promise<void> {
    await this.visibility(messages, 0, 'release');
  }

  private async visibility(messages: readonly ReceivedMessage[], seconds: number, what: string): Promise<void> {
    for (let start = 0; start < messages.length; start += 10) {
      const chunk = messages.slice(start, start + 10);
      try {
        await this.client.send(
          new this.s.ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: chunk.map((m, i) => ({ Id: String(i), ReceiptHandle: (m.handle as SqsHandle).receipt, VisibilityTimeout: seconds })),
          }),
        );
      } catch (err) {
        this.fail(err, `ChangeMessageVisibilityBatch (${what})`);
      }
    }
  }

  async deadLetter(message: ReceivedMessage, reason: DeadLetterReason, detail: string): Promise<void> {
    const h = message.handle as SqsHandle;
    const attributes: Record<string, AttrValue> = {};
    // Keep at most 7 of the original attributes: SQS allows 10 and 3 are ours.
    for (const [k, v] of Object.entries(h.attributes).slice(0, 7)) attributes[k] = v;
    attributes['scales.reason'] = { DataType: 'String', StringValue: reason };
    attributes['scales.detail'] = { DataType: 'String', StringValue: detail.slice(0, 256) || reason };
    attributes['scales.source-id'] = { DataType: 'String', StringValue: message.id };
    const deadUrl = await this.dead().catch((err) => this.fail(err, 'opening the dead-letter queue'));
    try {
      await this.client.send(new this.s.SendMessageCommand({ QueueUrl: deadUrl, MessageBody: h.rawBody === '' ? '(empty)' : h.rawBody, MessageAttributes: attributes }));
    } catch (err) {
      this.fail(err, 'SendMessage (dead letter)');
    }
    await this.ack([message]);
  }

  async stats(): Promise<QueueStats> {
    const get = async (url: string): Promise<Record<string, string>> => {
      const r = (await this.client.send(
        new this.s.GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
        }),
      )) as { Attributes?: Record<string, string> };
      return r.Attributes ?? {};
    };
    try {
      const [main, dead] = await Promise.all([get(this.queueUrl), this.dead().then(get)]);
      const n = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
      return {
        depth: n(main['ApproximateNumberOfMessages']),
        inFlight: n(main['ApproximateNumberOfMessagesNotVisible']),
        delayed: n(main['ApproximateNumberOfMessagesDelayed']),
        deadLettered: n(dead['ApproximateNumberOfMessages']),
      };
    } catch (err) {
      this.fail(err, 'GetQueueAttributes');
    }
  }

  async peek(max: number, from: 'queue' | 'dead' = 'queue'): Promise<DeadLetter[] | ReceivedMessage[]> {
    const url = from === 'dead' ? await this.dead() : this.queueUrl;
    let r: { Messages?: SqsMessage[] };
    try {
      r = (await this.client.send(
        new this.s.ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: Math.max(1, Math.min(10, max)),
          WaitTimeSeconds: 0,
          VisibilityTimeout: 0,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          // The older name too: SQS-compatible servers (local-aws-sqs) know only it.
          AttributeNames: ['All'],
        }),
      )) as typeof r;
    } catch (err) {
      this.fail(err, 'ReceiveMessage (peek)');
    }
    const ms = unique(r.Messages ?? []).map((m) => received(m, url));
    if (from === 'queue') return ms;
    return ms.map((m) => {
      const a = (m.handle as SqsHandle).attributes;
      return { message: m, reason: a['scales.reason']?.StringValue ?? '', detail: a['scales.detail']?.StringValue ?? '' };
    });
  }

  async purge(which: 'queue' | 'dead'): Promise<number | undefined> {
    const url = which === 'dead' ? await this.dead() : this.queueUrl;
    try {
      await this.client.send(new this.s.PurgeQueueCommand({ QueueUrl: url }));
    } catch (err) {
      this.fail(err, 'PurgeQueue');
    }
    return undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client.destroy();
  }
}

interface SqsMessage {
  MessageId?: string;
  ReceiptHandle?: string;
  Body?: string;
  Attributes?: Record<string, string>;
  MessageAttributes?: Record<string, AttrValue>;
}

/** Some SQS-compatible servers hand the same message out twice in one response: once is enough. */
function unique(ms: readonly SqsMessage[]): SqsMessage[] {
  const seen = new Set<string>();
  return ms.filter((m) => m.MessageId === undefined || (!seen.has(m.MessageId) && seen.add(m.MessageId) !== undefined));
}

function sqsAttributes(a: MessageAttributes): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const [k, v] of attributeFields(a)) out[k] = { DataType: NUMBER_ATTRIBUTES.has(k) ? 'Number' : 'String', StringValue: v };
  return out;
}

function received(m: SqsMessage, queueUrl: string): ReceivedMessage {
  const raw = m.Body ?? '';
  const attrs = m.MessageAttributes ?? {};
  // Strict base64 only: Buffer.from(x, 'base64') would silently skip what is not base64.
  const body = /^[A-Za-z0-9+/]*={0,2}$/.test(raw) && raw.length % 4 === 0 ? Buffer.from(raw, 'base64') : undefined;
  const handle: SqsHandle = { receipt: m.ReceiptHandle ?? '', queueUrl, attributes: attrs, rawBody: raw };
  return {
    id: m.MessageId ?? '',
    body,
    attributes: parseAttributes((name) => attrs[name]?.StringValue),
    deliveryCount: Number(m.Attributes?.['ApproximateReceiveCount'] ?? 1) || 1,
    size: raw.length,
    handle,
  };
}

function classify(err: unknown): BrokerFailure {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; message?: string } | undefined;
  const code = e?.code ?? '';
  const name = e?.name ?? '';
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || /ECONNREFUSED|ENOTFOUND/.test(e?.message ?? '')) return 'unreachable';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'broken';
  if (name === 'TimeoutError' || code === 'ETIMEDOUT') return 'timeout';
  if (/Throttl|RequestThrottled|OverLimit|ServiceUnavailable/.test(name)) return 'overloaded';
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return 'overloaded';
  if (status !== undefined && status >= 400) return 'rejected';
  return 'broken';
}
