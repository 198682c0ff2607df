/**
 * The client side of Finagle's TTwitter upgrade (`ttwitter: true`, framed transport only; see
 * ttwitter.ts for the structs): on connect, the `__can__finagle__trace__v3__` call; a REPLY means
 * every call on that connection then carries a RequestHeader (the call's trace as a child span, the
 * client id, its deadline and context values as Finagle contexts) and every reply comes behind a
 * ResponseHeader. An EXCEPTION answer (UNKNOWN_METHOD from a server without TTwitter) leaves the
 * connection plain, as Finagle's ThriftClientPreparer does.
 */
import { BufferReader, BufferUnderflow } from '../../core/bytes.js';
import { performance } from '../../core/clock.js';
import { ConnectTimeoutError, ProtocolError, type ScalesError } from '../../core/errors.js';
import type { CallContext, ReplyHandler } from '../../core/service.js';
import { MultiplexedSession } from '../../session/multiplexed.js';
import type { SessionControl } from '../../session/codec.js';
import type { Connection } from '../../transport/index.js';
import { CLIENT_ID_CONTEXT, childSpan, DEADLINE_CONTEXT, encodeDeadline, ForwardedContexts, MuxClientId, MuxTrace, type TraceId } from '../mux/contexts.js';
import { MessageType } from './descriptors.js';
import type { ThriftReply, ThriftRequest } from './messages.js';
import { SERVICE_SEPARATOR } from './multiplexed.js';
import type { ThriftProtocol } from './protocol.js';
import type { ThriftSessionOptions } from './session.js';
import { ThriftSessionCodec } from './session-codec.js';
import { EmptyStructDesc, type RequestContextValue, type RequestHeader, RequestHeaderDesc, TTWITTER_UPGRADE_METHOD } from './ttwitter.js';

/**
 * Sends the upgrade call on a fresh connection and reads its answer: true when the server took it.
 * Bounded by `timeoutMs` (ConnectTimeoutError); an answer that is neither the upgrade's REPLY nor
 * an EXCEPTION closes the connection (ProtocolError).
 */
export function negotiateTTwitter(conn: Connection, protocol: ThriftProtocol, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const done = (err: ScalesError | undefined, upgraded = false): void => {
      clearTimeout(timer);
      conn.onMessage = (m) => conn.close(new ProtocolError(`${conn.endpoint} sent ${m.length} bytes before any call`, { endpoint: conn.endpoint }));
      conn.onClose = () => {};
      if (err === undefined) return resolve(upgraded);
      conn.close(err);
      reject(err);
    };
    const timer = setTimeout(() => done(new ConnectTimeoutError(`TTwitter upgrade with ${conn.endpoint} got no answer within ${timeoutMs} ms`, { endpoint: conn.endpoint })), timeoutMs);
    conn.onClose = (err) => done(err ?? new ProtocolError(`${conn.endpoint} closed the connection during the TTwitter upgrade`, { endpoint: conn.endpoint }));
    conn.onMessage = (m) => {
      let head: ReturnType<ThriftProtocol['readMessageHeader']>;
      try {
        head = protocol.readMessageHeader(new BufferReader(m));
      } catch (err) {
        return done(
          new ProtocolError(`${conn.endpoint} answered the TTwitter upgrade with a bad message: ${err instanceof BufferUnderflow ? 'truncated' : (err as Error).message}`, {
            endpoint: conn.endpoint,
            cause: err,
          }),
        );
      }
      if (head.type === MessageType.EXCEPTION) return done(undefined, false); // no TTwitter there: plain Thrift
      if (head.type === MessageType.REPLY && head.name === TTWITTER_UPGRADE_METHOD) return done(undefined, true);
      done(new ProtocolError(`${conn.endpoint} answered the TTwitter upgrade with '${head.name}' type ${head.type}`, { endpoint: conn.endpoint }));
    };
    const mark = conn.beginMessage();
    protocol.writeMessageHeader(conn.writer, TTWITTER_UPGRADE_METHOD, MessageType.CALL, 0);
    protocol.writeStruct(conn.writer, EmptyStructDesc, EMPTY_OBJECT);
    conn.endMessage(mark);
  });
}

const EMPTY_OBJECT = Object.freeze({});
const DEADLINE_KEY = Buffer.from(DEADLINE_CONTEXT);
const CLIENT_ID_KEY = Buffer.from(CLIENT_ID_CONTEXT);
const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);

/**
 * The RequestHeader for the call in `ctx`, as Finagle's TTwitterClientFilter fills it: the trace
 * (a child span of the one in the context; none set, no ids sent), the client id (ours, else the
 * one the request being served carried) in `client_id` and as ClientIdContext, the deadline as
 * Finagle's Deadline context, every context value with a wire codec, and the contexts forwarded
 * from the request being served.
 */
export function requestHeaderFor(ctx: CallContext, clientId: string | undefined): RequestHeader {
  const h: RequestHeader = {};
  const contexts: RequestContextValue[] = [];
  const exp = ctx.expiresAt;
  if (exp !== undefined) {
    const now = Date.now(); // wall clock: the peer compares it with its own (as dispatch-head.ts)
    const left = exp - performance.now();
    contexts.push({ key: DEADLINE_KEY, value: encodeDeadline(now, left > 0 ? now + left : now) });
  }
  let trace: TraceId | undefined;
  let id = clientId;
  const values = ctx.values;
  if (values !== undefined) {
    for (const [key, value] of values.entries()) {
      if (value === undefined) continue;
      if (key === ForwardedContexts) {
        for (const [k, v] of value as NonNullable<typeof ForwardedContexts.defaultValue>) contexts.push({ key: k, value: v });
      } else if (key === MuxTrace) trace = value as TraceId;
      else if (key === MuxClientId) id ??= value as string;
      else if (key.wire !== undefined) contexts.push({ key: Buffer.from(key.wire.name), value: key.wire.encode(value) });
    }
  }
  if (trace !== undefined) {
    const t = childSpan(trace);
    h.trace_id = s64(t.traceId);
    h.span_id = s64(t.spanId);
    h.parent_span_id = s64(t.parentId);
    if ((t.flags & 2n) !== 0n) h.sampled = (t.flags & 4n) !== 0n;
    h.flags = s64(t.flags);
    if (t.traceIdHigh !== undefined) h.trace_id_high = s64(t.traceIdHigh);
  }
  if (id !== undefined) {
    h.client_id = { name: id };
    contexts.push({ key: CLIENT_ID_KEY, value: Buffer.from(id, 'utf8') });
  }
  if (contexts.length > 0) h.contexts = contexts;
  return h;
}

/** A call with the RequestHeader it carries. */
interface TTwitterRequest extends ThriftRequest {
  readonly header: RequestHeader;
}

class TTwitterSessionCodec extends ThriftSessionCodec {
  private readonly skipper = new BufferReader(Buffer.alloc(0));

  protected override writePrefix(conn: Connection, req: ThriftRequest): void {
    this.protocol.writeStruct(conn.writer, RequestHeaderDesc, (req as TTwitterRequest).header);
  }

  override read(message: Buffer, s: SessionControl<ThriftRequest, ThriftReply>): void {
    const r = this.skipper;
    r.buf = message;
    r.pos = 0;
    r.end = message.length;
    try {
      this.protocol.skipStruct(r); // the ResponseHeader: Finagle's servers send it empty
    } catch (err) {
      return s.violation(`bad TTwitter ResponseHeader: ${err instanceof BufferUnderflow ? 'truncated' : (err as Error).message}`, err);
    } finally {
      r.buf = EMPTY;
    }
    this.readAt(message, r.pos, s);
  }
}

const EMPTY = Buffer.alloc(0);

/** A Thrift session on an upgraded connection: a RequestHeader before every call. */
export class TTwitterThriftSession extends MultiplexedSession<ThriftRequest, ThriftReply> {
  constructor(
    conn: Connection,
    protocol: ThriftProtocol,
    private readonly clientId: string | undefined,
    options: ThriftSessionOptions = {},
  ) {
    super(conn, new TTwitterSessionCodec(protocol, options.serviceName === undefined ? undefined : options.serviceName + SERVICE_SEPARATOR), options);
  }

  override dispatch(req: ThriftRequest, ctx: CallContext, handler: ReplyHandler<ThriftReply>): void {
    const withHeader: TTwitterRequest = { name: req.name, oneway: req.oneway, body: req.body, header: requestHeaderFor(ctx, this.clientId) };
    super.dispatch(withHeader, ctx, handler);
  }
}
