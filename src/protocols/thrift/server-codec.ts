/**
 * Thrift's server codec (src/server/codec.ts): reads CALL/ONEWAY messages, writes REPLY messages
 * (results, declared exceptions) and EXCEPTION messages (TApplicationException).
 *
 * Answers a Thrift client can tell apart (all TApplicationException INTERNAL_ERROR, by message):
 *   handler failure  `Internal error processing <method>[: <message>]`
 *   server timeout   `<method> timed out: no answer within its deadline (...)`
 *   overload         `Overloaded: ...` (see isOverloadRejection; the request did not run)
 * and UNKNOWN_METHOD `Unknown method` (the name, truncated, in the header) for a method the
 * service lacks.
 *
 * Finagle's TTwitter upgrade (ttwitter.ts): a plain connection that calls
 * `__can__finagle__trace__v3__` is answered REPLY and from then on reads a RequestHeader before
 * each message and writes a ResponseHeader before each answer. The codec is shared by every
 * connection, so the upgraded ones are kept in a WeakSet, looked up only once any has upgraded.
 */
import { BufferReader, BufferUnderflow } from '../../core/bytes.js';
import { ProtocolError } from '../../core/errors.js';
import { MAX_ECHOED_NAME, UnknownMethod, type ServerCodec, type ServerErrorKind, type ServerRequest } from '../../server/codec.js';
import { describeError, isInstance, truncate } from '../../server/safe.js';
import type { Connection } from '../../transport/index.js';
import type { ContextKey, ContextValues } from '../../core/context-key.js';
import { encodeApplicationException, TApplicationExceptionType, ThriftApplicationError } from './application-exception.js';
import { MessageType, ThriftException, type MethodDesc, type ServiceDesc } from './descriptors.js';
import { DEFAULT_HEADER_LIMITS, HEADER_MAGIC_HI, HEADER_MAGIC_LO, type HeaderHead, type HeaderLimits, HeaderProtocolId, readHeaderFrame, writeHeaderFrame } from './header.js';
import { fromHeaders, keysByWireName } from './header-context.js';
import type { ServiceRoutes } from './multiplexed.js';
import { type KnownNames, knownNames } from './known-names.js';
import type { DecodeLimits, ThriftProtocol } from './protocol.js';
import { makeProtocol } from './protocols.js';
import {
  DEFAULT_TTWITTER_LIMITS,
  EmptyStructDesc,
  readRequestHeader,
  type ReceivedHeader,
  TTwitterHeaderError,
  type TTwitterLimits,
  TTWITTER_UPGRADE_METHOD,
  writeResponseHeader,
} from './ttwitter.js';
import { type ContextNames, contextNames } from '../mux/contexts.js';

/** Message prefix of an overload rejection: the request was not run, another server may take it. */
export const OVERLOADED_PREFIX = 'Overloaded: ';

/** True for the answer of a Scales server that shed the call (safe to send elsewhere). */
export function isOverloadRejection(err: unknown): boolean {
  return err instanceof ThriftApplicationError && err.type === TApplicationExceptionType.INTERNAL_ERROR && err.message.startsWith(OVERLOADED_PREFIX);
}

export class ThriftServerRequest implements ServerRequest {
  constructor(
    readonly desc: MethodDesc,
    readonly seqid: number,
    readonly args: unknown[],
    readonly oneway: boolean,
    /** The name in the server stack: the IDL name, or `Service:method` on a multiplexed server. */
    readonly method: string = desc.name,
    /** How the answer goes back when the call came in a THeader message or on a TTwitter connection. */
    readonly via: ReplyVia = undefined,
    readonly deadline: number | undefined = undefined,
    readonly values: ContextValues | undefined = undefined,
  ) {}
}

/** An answer on an upgraded TTwitter connection: a ResponseHeader goes first. */
export const TTWITTER = 'ttwitter';

/** How an answer is wrapped: plain (undefined), in a THeader frame, or behind a TTwitter ResponseHeader. */
export type ReplyVia = HeaderReply | typeof TTWITTER | undefined;

/** What an answer to a THeader call echoes: its protocol, flags, seqid and transforms. */
export interface HeaderReply {
  readonly protocol: ThriftProtocol;
  readonly head: HeaderHead;
}

/**
 * A call answered at once with a TApplicationException (never dispatched): an unknown method, or
 * on a multiplexed server an unknown service. `via`: it came in a THeader message.
 */
export class ThriftRefusal extends UnknownMethod<number> {
  constructor(
    name: string,
    seqid: number,
    oneway: boolean,
    readonly type: TApplicationExceptionType,
    readonly message: string,
    readonly via: ReplyVia = undefined,
  ) {
    super(name, seqid, oneway);
  }
}

/** The TTwitter upgrade call: answered at once with REPLY and an empty UpgradeReply, never dispatched. */
export class TTwitterUpgrade extends UnknownMethod<number> {
  constructor(
    seqid: number,
    /** TTWITTER when it came on a connection already upgraded (sent twice): the answer has a ResponseHeader too. */
    readonly via: ReplyVia,
  ) {
    super(TTWITTER_UPGRADE_METHOD, seqid, false);
  }
}

/** TTwitter on a server: the context keys its RequestHeader's contexts decode into, and its limits. */
export interface TTwitterServerOptions extends Partial<TTwitterLimits> {
  /** Context keys besides Mux's own (trace, retries, client id), by their Mux context name. */
  readonly contextKeys?: readonly ContextKey<unknown>[];
}

export interface ThriftServerCodecOptions {
  /** A multiplexed server's services (`Service:method` names). */
  readonly routes?: ServiceRoutes;
  /**
   * Where a THeader message's magic sits in a message as the transport delivers it: 0 when framed
   * (the connection strips the length), 4 when unframed (the measurer hands the length over too).
   */
  readonly headerAt?: 0 | 4;
  readonly headerLimits?: Partial<HeaderLimits>;
  /** Context keys a THeader call's info headers are decoded into (header-context.ts). */
  readonly contextKeys?: readonly ContextKey<unknown>[];
  /** Frame and decode limits for the protocols a THeader message may name (as the server's own). */
  readonly maxFrameSize?: number;
  readonly decodeLimits?: Partial<DecodeLimits>;
  /** Finagle's TTwitter upgrade (default: served, with `contextKeys`); false: declined (UNKNOWN_METHOD). */
  readonly ttwitter?: TTwitterServerOptions | false;
}

const EMPTY = Buffer.alloc(0);

export class ThriftServerCodec implements ServerCodec<Buffer, Connection, ThriftServerRequest> {
  private readonly reader = new BufferReader(EMPTY);
  private readonly routes: ServiceRoutes | undefined;
  private readonly header: HeaderCodec;
  private readonly ttwitter: TTwitterServer | undefined;
  /** The service's method names as bytes (no routes): a call's name is matched, not decoded. */
  private readonly names: KnownNames | undefined;

  constructor(
    private readonly protocol: ThriftProtocol,
    private readonly service: ServiceDesc,
    options: ThriftServerCodecOptions = {},
  ) {
    this.routes = options.routes;
    this.names = options.routes === undefined ? knownNames(Object.keys(service.methods)) : undefined;
    this.header = new HeaderCodec(protocol, options);
    // Unframed (headerAt 4): message boundaries are found by parsing Thrift messages, which a
    // RequestHeader in front would break; Finagle speaks TTwitter over framed Thrift only.
    const off = options.ttwitter === false || this.header.at === 4;
    this.ttwitter = off ? undefined : new TTwitterServer(options.ttwitter || {}, options.contextKeys);
  }

  /** `conn`: the connection the message came on (TTwitter's upgrade is per connection; without it, never upgraded). */
  decode(message: Buffer, conn?: object): ThriftServerRequest | UnknownMethod<number> {
    // THeader: the magic first (framed), or after a length under 16 MiB (unframed: as the measurer
    // found it; a compact call's seqid and name length could put 0F FF at offset 4, never a 0 at 0).
    const at = this.header.at;
    if (message.length >= at + 2 && message[at] === HEADER_MAGIC_HI && message[at + 1] === HEADER_MAGIC_LO && message[0] === (at === 0 ? HEADER_MAGIC_HI : 0)) {
      return this.decodeHeader(message);
    }
    const tt = this.ttwitter;
    if (tt?.anyUpgraded && conn !== undefined && tt.upgraded.has(conn)) return this.decodeTTwitter(tt, message, conn);
    return this.decodeMessage(this.protocol, message, 0, undefined, undefined, conn);
  }

  /** A message on an upgraded TTwitter connection: its RequestHeader, then the Thrift message. */
  private decodeTTwitter(tt: TTwitterServer, message: Buffer, conn: object): ThriftServerRequest | UnknownMethod<number> {
    const r = this.reader;
    r.buf = message;
    r.pos = 0;
    r.end = message.length;
    let received: ReceivedHeader;
    try {
      received = readRequestHeader(this.protocol, r, tt.names, tt.limits);
    } catch (err) {
      if (err instanceof TTwitterHeaderError) throw err;
      const why = err instanceof BufferUnderflow ? 'truncated' : describeError(err);
      throw new TTwitterHeaderError(`bad TTwitter RequestHeader (the connection was upgraded: every message needs one): ${why}`, { cause: err });
    } finally {
      r.buf = EMPTY;
    }
    return this.decodeMessage(this.protocol, message, r.pos, TTWITTER, undefined, conn, received);
  }

  /** A THeader message: its head, then the Thrift message inside in the protocol it names. */
  private decodeHeader(message: Buffer): ThriftServerRequest | UnknownMethod<number> {
    const frame = readHeaderFrame(message, this.header.at, message.length, this.header.limits);
    const protocol = this.header.protocolFor(frame.protocolId);
    const via: HeaderReply = { protocol, head: { protocolId: frame.protocolId, flags: frame.flags, seqid: frame.seqid, transforms: frame.transforms, headers: undefined } };
    return this.decodeMessage(protocol, frame.payload, frame.offset, via, frame.headers);
  }

  private decodeMessage(
    protocol: ThriftProtocol,
    message: Buffer,
    offset: number,
    via: ReplyVia,
    headers: ReadonlyMap<string, Buffer> | undefined,
    conn?: object,
    received?: ReceivedHeader,
  ): ThriftServerRequest | UnknownMethod<number> {
    const r = this.reader;
    r.buf = message;
    r.pos = offset;
    r.end = message.length;
    try {
      const { name, type, seqid } = protocol.readMessageHeader(r, this.names);
      if (type !== MessageType.CALL && type !== MessageType.ONEWAY) {
        throw new ProtocolError(`expected a CALL or ONEWAY message, got type ${type}`);
      }
      let method: MethodDesc | undefined;
      let stackName: string | undefined;
      const routes = this.routes;
      if (routes === undefined) {
        method = Object.hasOwn(this.service.methods, name) ? this.service.methods[name] : undefined;
      } else {
        const route = routes.resolve(name);
        method = route?.desc;
        stackName = route?.stackName;
      }
      if (method === undefined) {
        protocol.skipStruct(r); // for the upgrade: ConnectionOptions, empty (fields sent anyway are skipped)
        if (name === TTWITTER_UPGRADE_METHOD && type === MessageType.CALL && typeof via !== 'object' && conn !== undefined && this.ttwitter !== undefined) {
          this.ttwitter.upgrade(conn);
          return new TTwitterUpgrade(seqid, via);
        }
        const oneway = type === MessageType.ONEWAY;
        const refused = routes === undefined ? new UnknownMethod(truncate(name, MAX_ECHOED_NAME), seqid, oneway) : routes.unknown(name, seqid, oneway);
        if (via === undefined) return refused;
        const t = refused instanceof ThriftRefusal ? refused : undefined;
        return new ThriftRefusal(refused.name, seqid, oneway, t?.type ?? TApplicationExceptionType.UNKNOWN_METHOD, t?.message ?? UNKNOWN_METHOD_MESSAGE, via);
      }
      // ONEWAY naming a two-way method would run it unanswered, outside what the client expects
      // (and before issue 9, outside the concurrency cap). The peer disagrees with our IDL: its
      // seqids cannot be trusted, so this connection ends. A CALL naming a oneway method is
      // served as oneway (some clients send CALL for everything).
      if (type === MessageType.ONEWAY && !method.oneway) {
        throw new ProtocolError(`ONEWAY message for two-way method '${method.name}'`);
      }
      const fields = protocol.readStruct(r, method.args) as Record<string, unknown>;
      const params = method.params;
      const args: unknown[] = new Array(params.length + 1);
      for (let i = 0; i < params.length; i++) args[i] = fields[params[i]!];
      if (via === undefined) return new ThriftServerRequest(method, seqid, args, method.oneway, stackName);
      if (via === TTWITTER) return new ThriftServerRequest(method, seqid, args, method.oneway, stackName, via, received?.deadline, received?.values);
      const { deadline, values } = fromHeaders(headers, this.header.keys);
      return new ThriftServerRequest(method, seqid, args, method.oneway, stackName, via, deadline, values);
    } catch (err) {
      if (err instanceof BufferUnderflow) throw new ProtocolError('truncated call message');
      if (err instanceof ProtocolError) throw err;
      throw new ProtocolError(`bad call message: ${describeError(err)}`, { cause: err });
    } finally {
      r.buf = EMPTY; // do not pin the frame
    }
  }

  writeReply(conn: Connection, req: ThriftServerRequest, value: unknown): void {
    this.writeResult(conn, req, { success: value });
  }

  isDeclared(req: ThriftServerRequest, err: unknown): boolean {
    return declaredField(req.desc, err) !== undefined;
  }

  writeDeclared(conn: Connection, req: ThriftServerRequest, err: unknown): void {
    const field = declaredField(req.desc, err);
    if (field === undefined) throw new ProtocolError(`not a declared exception of ${req.method}`);
    this.writeResult(conn, req, { [field]: err });
  }

  writeError(conn: Connection, req: ThriftServerRequest, _kind: ServerErrorKind, message: string): void {
    this.writeException(conn, req.via, req.desc.name, req.seqid, TApplicationExceptionType.INTERNAL_ERROR, message);
  }

  writeOverloaded(conn: Connection, req: ThriftServerRequest, message: string): void {
    this.writeException(conn, req.via, req.desc.name, req.seqid, TApplicationExceptionType.INTERNAL_ERROR, OVERLOADED_PREFIX + message);
  }

  writeUnknown(conn: Connection, call: UnknownMethod): void {
    // The name goes back once, truncated, in the header (clients match replies on it); a hostile
    // 16 MiB name costs a reply of a few hundred bytes, not two copies of itself.
    if (call instanceof ThriftRefusal) return this.writeException(conn, call.via, call.name, call.tag, call.type, call.message);
    if (call instanceof TTwitterUpgrade) return this.writeUpgraded(conn, call);
    this.writeException(conn, undefined, call.name, call.tag as number, TApplicationExceptionType.UNKNOWN_METHOD, UNKNOWN_METHOD_MESSAGE);
  }

  /** A REPLY message: the reply header names the IDL method (plain, also on a multiplexed server, as Apache's processors answer). */
  private writeResult(conn: Connection, req: ThriftServerRequest, result: object): void {
    const mark = conn.beginMessage();
    try {
      const via = req.via;
      if (via === undefined || via === TTWITTER) {
        if (via === TTWITTER) writeResponseHeader(this.protocol, conn.writer);
        this.protocol.writeMessageHeader(conn.writer, req.desc.name, MessageType.REPLY, req.seqid);
        this.protocol.writeStruct(conn.writer, req.desc.result, result);
      } else {
        const p = via.protocol;
        writeHeaderFrame(conn.writer, via.head, this.header.at === 4, (w) => {
          p.writeMessageHeader(w, req.desc.name, MessageType.REPLY, req.seqid);
          p.writeStruct(w, req.desc.result, result);
        });
      }
    } catch (err) {
      conn.abortMessage(mark);
      throw err;
    }
    conn.endMessage(mark);
  }

  /** The upgrade's REPLY: the same name and seqid, an empty UpgradeReply. */
  private writeUpgraded(conn: Connection, call: TTwitterUpgrade): void {
    const mark = conn.beginMessage();
    try {
      if (call.via === TTWITTER) writeResponseHeader(this.protocol, conn.writer);
      this.protocol.writeMessageHeader(conn.writer, call.name, MessageType.REPLY, call.tag);
      this.protocol.writeStruct(conn.writer, EmptyStructDesc, EMPTY_STRUCT);
    } catch (err) {
      conn.abortMessage(mark);
      throw err;
    }
    conn.endMessage(mark);
  }

  private writeException(conn: Connection, via: ReplyVia, name: string, seqid: number, type: number, message: string): void {
    const mark = conn.beginMessage();
    try {
      if (via === undefined || via === TTWITTER) {
        if (via === TTWITTER) writeResponseHeader(this.protocol, conn.writer);
        this.protocol.writeMessageHeader(conn.writer, name, MessageType.EXCEPTION, seqid);
        encodeApplicationException(this.protocol, conn.writer, type, message);
      } else {
        const p = via.protocol;
        writeHeaderFrame(conn.writer, via.head, this.header.at === 4, (w) => {
          p.writeMessageHeader(w, name, MessageType.EXCEPTION, seqid);
          encodeApplicationException(p, w, type, message);
        });
      }
    } catch (err) {
      conn.abortMessage(mark);
      throw err;
    }
    conn.endMessage(mark);
  }
}

const UNKNOWN_METHOD_MESSAGE = 'Unknown method';
const EMPTY_STRUCT = Object.freeze({});

/** TTwitter's side of a server codec: the connections that upgraded, the context keys, the limits. */
class TTwitterServer {
  readonly upgraded = new WeakSet<object>();
  /** No connection upgraded yet: plain messages skip the WeakSet lookup. */
  anyUpgraded = false;
  readonly names: ContextNames;
  readonly limits: TTwitterLimits;

  constructor(o: TTwitterServerOptions, fallbackKeys: readonly ContextKey<unknown>[] | undefined) {
    this.names = contextNames(o.contextKeys ?? fallbackKeys);
    this.limits = { maxContexts: o.maxContexts ?? DEFAULT_TTWITTER_LIMITS.maxContexts, maxDelegations: o.maxDelegations ?? DEFAULT_TTWITTER_LIMITS.maxDelegations };
  }

  upgrade(conn: object): void {
    this.upgraded.add(conn);
    this.anyUpgraded = true;
  }
}

/** The THeader side of a server codec: where the magic sits, the limits, and the protocols a message may name. */
class HeaderCodec {
  readonly at: 0 | 4;
  readonly limits: HeaderLimits;
  readonly keys: ReadonlyMap<string, ContextKey<unknown>>;
  private binary: ThriftProtocol | undefined;
  private compact: ThriftProtocol | undefined;

  constructor(
    private readonly own: ThriftProtocol,
    private readonly options: ThriftServerCodecOptions,
  ) {
    this.at = options.headerAt ?? 0;
    this.limits = { ...DEFAULT_HEADER_LIMITS, maxInflatedBytes: options.maxFrameSize ?? 16 * 1024 * 1024, ...options.headerLimits };
    this.keys = keysByWireName(options.contextKeys);
  }

  /** The protocol a THeader message names (made on first use, with the server's decode limits). */
  protocolFor(id: number): ThriftProtocol {
    const kind = id === HeaderProtocolId.COMPACT ? 'compact' : 'binary';
    if (this.own.name === kind) return this.own;
    if (kind === 'compact') return (this.compact ??= makeProtocol('compact', this.options.maxFrameSize, this.options.decodeLimits));
    return (this.binary ??= makeProtocol('binary', this.options.maxFrameSize, this.options.decodeLimits));
  }
}

/** The result field a declared exception goes in, or undefined (not declared, or asking threw). */
function declaredField(method: MethodDesc, err: unknown): string | undefined {
  if (!isInstance(err, ThriftException)) return undefined;
  let name: unknown;
  try {
    name = err.thriftName;
  } catch {
    return undefined;
  }
  for (const f of method.result.fields) {
    if (f.id !== 0 && f.type.kind === 'struct' && f.type.struct().name === name) return f.name;
  }
  return undefined;
}
