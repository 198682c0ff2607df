/**
 * ThriftMux's server codec: Mux sessions carrying one Thrift message per Tdispatch (or legacy
 * Treq), and plain framed Thrift on the same port, told apart by the first message:
 *
 *   80 01 ..   a strict TBinary message (read as Mux it would be an Rerr on tag 65537)  → Thrift
 *   82 ..      a compact message (no Mux type is -126)                                  → Thrift
 *   anything else                                                                     → Mux
 *
 * Answers: results, declared exceptions and TApplicationExceptions ride in `Rdispatch OK` as a
 * Thrift REPLY/EXCEPTION message (as Finagle's ThriftMux server sends them); an overload
 * rejection is `Rdispatch NACK`; a discarded call's answer is never written.
 */
import { BufferReader, BufferUnderflow, type BufferWriter } from '../../core/bytes.js';
import type { ContextKey, ContextValues } from '../../core/context-key.js';
import { type CancelledError, ProtocolError } from '../../core/errors.js';
import { MAX_ECHOED_NAME, UnknownMethod, type ServerCodec, type ServerErrorKind, type ServerRequest } from '../../server/codec.js';
import { describeError, truncate } from '../../server/safe.js';
import type { Connection } from '../../transport/index.js';
import { readU16 } from '../mux/bytes.js';
import { writeSimple } from '../mux/client-codec.js';
import { type ContextNames, contextNames } from '../mux/contexts.js';
import { framerHeader } from '../mux/handshake.js';
import { MuxServerConn, readContexts, type DiscardableCall, type MuxServerLimits, type ReceivedContexts } from '../mux/server-conn.js';
import { HEADER_BYTES, MAX_TAG, MuxType, ReplyStatus } from '../mux/types.js';
import { encodeApplicationException, TApplicationExceptionType } from '../thrift/application-exception.js';
import { MessageType, type MethodDesc, type ServiceDesc } from '../thrift/descriptors.js';
import { type KnownNames, knownNames } from '../thrift/known-names.js';
import type { ThriftProtocol } from '../thrift/protocol.js';
import { ThriftServerCodec, ThriftServerRequest } from '../thrift/server-codec.js';
import { InOrderAnswers } from './in-order.js';

/** One Thrift call that came in a Tdispatch (or Treq). */
export class MuxServerRequest implements ServerRequest, DiscardableCall {
  readonly method: string;
  readonly oneway = false;
  discarded = false;
  /** The request's context, once it entered the server stack (the 'discard' role sets it). */
  ctx: { abort(reason: CancelledError): void } | undefined = undefined;

  constructor(
    readonly conn: MuxServerConn,
    readonly tag: number,
    /** Treq/Rreq (legacy) instead of Tdispatch/Rdispatch. */
    readonly legacy: boolean,
    readonly desc: MethodDesc,
    readonly seqid: number,
    readonly args: unknown[],
    readonly deadline: number | undefined,
    readonly values: ContextValues | undefined,
  ) {
    this.method = desc.name;
  }

  abort(reason: CancelledError): void {
    this.ctx?.abort(reason);
  }
}

export type ThriftMuxServerRequest = MuxServerRequest | ThriftServerRequest;

/** What an unknown-method answer needs to find its way back. */
interface UnknownCall extends DiscardableCall {
  readonly conn: MuxServerConn;
  readonly legacy: boolean;
  readonly seqid: number;
}

export interface ThriftMuxCodecOptions {
  readonly limits: MuxServerLimits;
  /** Context keys decoded into typed values besides Mux's own (trace, retries, client id). */
  readonly contextKeys?: readonly ContextKey<unknown>[];
  /** Our `mux-framer` in Rinit: the largest frame we want to receive (default: none sent). */
  readonly maxFrameToReceive?: number;
  /** How long a draining session waits for the client's Rdrain (default 1000 ms). */
  readonly drainAckMs?: number;
  /** Serve the TTwitter upgrade on plain connections (default true). */
  readonly ttwitter?: boolean;
}

const EMPTY = Buffer.alloc(0);

export class ThriftMuxServerCodec implements ServerCodec<Buffer, Connection, ThriftMuxServerRequest> {
  private readonly conns = new WeakMap<Connection, MuxServerConn>();
  private readonly reader = new BufferReader(EMPTY);
  /** The context names decoded (Mux's own and `contextKeys`), matched on their bytes. */
  private readonly contextNames: ContextNames;
  /** The service's methods by name: one Map lookup per call (own names only, as Object.hasOwn checked). */
  private readonly methods: ReadonlyMap<string, MethodDesc>;
  /** Their names as bytes: a call's name is matched, not decoded. */
  private readonly names: KnownNames;
  private readonly thrift: ThriftServerCodec;
  private readonly initHeaders;
  /** The connection read last: most messages come in runs from one connection, no WeakMap lookup for them. */
  private last: MuxServerConn | undefined = undefined;
  /** Tdiscarded that reached a running call (for stats and tests). */
  discarded = 0;
  /** The `<method>_result` struct of a reply, refilled per answer (writeReply). */
  private readonly resultBox: { success: unknown } = { success: undefined };
  /** What readContexts found on the call being read (refilled per call). */
  private readonly received: ReceivedContexts = { deadline: undefined, values: undefined };
  /** Calls refused with NACK because their session was draining. */
  drainNacks = 0;
  readonly drainAckMs: number;

  constructor(
    private readonly protocol: ThriftProtocol,
    service: ServiceDesc,
    private readonly o: ThriftMuxCodecOptions,
  ) {
    this.contextNames = contextNames(o.contextKeys);
    this.methods = new Map(Object.entries(service.methods));
    this.names = knownNames(this.methods.keys());
    this.drainAckMs = o.drainAckMs ?? 1000;
    // Plain connections may take Finagle's TTwitter upgrade: its contexts decode as a Tdispatch's would.
    this.thrift = new ThriftServerCodec(protocol, service, {
      ttwitter: o.ttwitter === false ? false : { contextKeys: o.contextKeys, maxContexts: o.limits.maxContexts, maxDelegations: o.limits.maxDtab },
    });
    this.initHeaders = o.maxFrameToReceive === undefined ? [] : [framerHeader(o.maxFrameToReceive)];
  }

  /** Mux has no half-close (Finagle closes the session on EOF): a Mux caller's FIN means it is gone. Plain Thrift keeps half-close. */
  peerEndIsGone(conn: Connection): boolean {
    return this.conns.get(conn)?.kind === 'mux';
  }

  /** Mux calls in flight on `conn` (not discarded, not answered). */
  inFlight(conn: Connection): number {
    return this.conns.get(conn)?.inFlight ?? 0;
  }

  /** The common case in place: a whole Tdispatch on a Mux session, no fragmented message pending, not draining. Anything else as `decode`. */
  decodeRange(buf: Buffer, start: number, end: number, conn: Connection): ThriftMuxServerRequest | UnknownMethod | undefined {
    const st = this.last;
    if (
      st !== undefined &&
      st.conn === conn &&
      st.kind === 'mux' &&
      !st.draining &&
      end - start >= HEADER_BYTES &&
      buf[start] === MuxType.Tdispatch &&
      (buf[start + 1]! & 0x80) === 0 &&
      st.reassembler.pending === 0
    ) {
      const tag = ((buf[start + 1]! << 16) | (buf[start + 2]! << 8) | buf[start + 3]!) & MAX_TAG;
      return this.readCall(st, buf, start, end, tag, false);
    }
    return this.decode(buf.subarray(start, end), conn);
  }

  decode(message: Buffer, conn: Connection): ThriftMuxServerRequest | UnknownMethod | undefined {
    let st = this.last;
    if (st === undefined || st.conn !== conn) {
      st = this.conns.get(conn);
      if (st === undefined) this.conns.set(conn, (st = new MuxServerConn(conn, this.o.limits)));
      this.last = st;
    }
    if (st.kind === 'thrift') return this.decodeThrift(st, message);
    if (st.kind === 'unknown') {
      const b0 = message[0];
      if ((b0 === 0x80 && message[1] === 0x01) || b0 === 0x82) {
        st.kind = 'thrift';
        st.inOrder = new InOrderAnswers();
        return this.decodeThrift(st, message);
      }
      st.kind = 'mux';
    }
    if (message.length < HEADER_BYTES) throw new ProtocolError(`mux message of ${message.length} bytes`);
    const whole = st.reassembler.accept(message);
    if (whole === undefined) return undefined;
    const code = whole.readInt8(0);
    const tag = ((whole[1]! << 16) | (whole[2]! << 8) | whole[3]!) & MAX_TAG;
    switch (code) {
      case MuxType.Tdispatch:
      case MuxType.Treq:
        if (st.draining) {
          // Written before the client saw our Tdrain: refused unrun, so it can go elsewhere.
          if (!conn.closing) this.writeNack(conn, tag, code === MuxType.Treq);
          this.drainNacks++;
          return undefined;
        }
        return this.readCall(st, whole, 0, whole.length, tag, code === MuxType.Treq);
      case MuxType.Tping:
        writeSimple(conn, MuxType.Rping, tag);
        return undefined;
      case MuxType.Tdiscarded:
      case MuxType.TdiscardedLegacy: {
        if (whole.length < HEADER_BYTES + 3) throw new ProtocolError('truncated Tdiscarded');
        const which = whole.readUIntBE(HEADER_BYTES, 3) & MAX_TAG; // some peers set the fragment bit here
        if (st.discard(which, whole.toString('utf8', HEADER_BYTES + 3, Math.min(whole.length, HEADER_BYTES + 3 + 256)))) this.discarded++;
        return undefined;
      }
      case MuxType.RerrLegacy:
      case MuxType.Rerr:
      case MuxType.Tinit:
        st.answerHandshake(whole, code, tag, this.initHeaders);
        return undefined;
      case MuxType.Tdrain:
        writeSimple(conn, MuxType.Rdrain, tag);
        return undefined;
      case MuxType.Rdrain:
        st.drainAcknowledged();
        return undefined;
      case MuxType.Rping:
      case MuxType.Tlease:
        return undefined; // pings of ours (none yet); a lease means nothing to a server
      default:
        if (code > 0 && tag !== 0) {
          // A T-message we do not know: say so on its tag (Finagle answers Rerr), keep the session.
          const mark = conn.beginMessage();
          conn.writer.writeI8(MuxType.Rerr);
          conn.writer.writeU8((tag >>> 16) & 0xff);
          conn.writer.writeU8((tag >>> 8) & 0xff);
          conn.writer.writeU8(tag & 0xff);
          conn.writer.writeUtf8(`unknown mux message type ${code}`);
          conn.endMessage(mark);
          return undefined;
        }
        throw new ProtocolError(`unexpected mux message type ${code} (tag ${tag}) from a client`);
    }
  }

  private decodeThrift(st: MuxServerConn, message: Buffer): ThriftServerRequest | UnknownMethod {
    const r = this.thrift.decode(message, st.conn);
    if (!r.oneway) st.inOrder!.number(r);
    return r;
  }

  /** The Thrift codec's answer to a plain Thrift request, in request order. */
  private plain(conn: Connection, req: object, write: (out: Connection) => void): void {
    const order = this.conns.get(conn)?.inOrder;
    if (order === undefined) return write(conn);
    order.answer(conn, req, write);
  }

  /** The call in m[start, end). */
  private readCall(st: MuxServerConn, m: Buffer, start: number, end: number, tag: number, legacy: boolean): MuxServerRequest | UnknownMethod {
    const r = this.reader;
    r.buf = m;
    r.pos = start + HEADER_BYTES;
    r.end = end;
    try {
      let deadline: number | undefined;
      let values: ContextValues | undefined;
      if (legacy) {
        const n = r.readU8();
        for (let i = 0; i < n; i++) {
          r.skip(1);
          r.skip(r.readU8());
        }
      } else {
        const got = readContexts(r, this.contextNames, this.o.limits.maxContexts, this.received);
        deadline = got.deadline;
        values = got.values;
        got.values = undefined; // not kept past this call
        r.skip(readU16(r)); // dest
        const nd = readU16(r);
        if (nd > this.o.limits.maxDtab) throw new ProtocolError(`Tdispatch claims ${nd} dtab entries (limit ${this.o.limits.maxDtab})`);
        for (let i = 0; i < 2 * nd; i++) r.skip(readU16(r));
      }
      const { name, type, seqid } = this.protocol.readMessageHeader(r, this.names);
      if (type !== MessageType.CALL && type !== MessageType.ONEWAY) throw new ProtocolError(`expected a Thrift CALL in a mux call, got type ${type}`);
      const method = this.methods.get(name);
      if (method === undefined || method.oneway) {
        this.protocol.skipStruct(r);
        const call: UnknownCall = { conn: st, tag, legacy, seqid, discarded: false, abort: noop };
        st.begin(call);
        return new UnknownMethod<UnknownCall>(truncate(name, MAX_ECHOED_NAME), call, false);
      }
      const fields = this.protocol.readStruct(r, method.args) as Record<string, unknown>;
      const params = method.params;
      const args: unknown[] = new Array(params.length + 1);
      for (let i = 0; i < params.length; i++) args[i] = fields[params[i]!];
      const req = new MuxServerRequest(st, tag, legacy, method, seqid, args, deadline, values);
      st.begin(req);
      return req;
    } catch (err) {
      if (err instanceof BufferUnderflow) throw new ProtocolError(`truncated mux call on tag ${tag}`);
      if (err instanceof ProtocolError) throw err;
      throw new ProtocolError(`bad mux call on tag ${tag}: ${describeError(err)}`, { cause: err });
    } finally {
      r.buf = EMPTY;
    }
  }

  writeReply(conn: Connection, req: ThriftMuxServerRequest, value: unknown): void {
    if (req instanceof ThriftServerRequest) return this.plain(conn, req, (out) => this.thrift.writeReply(out, req, value));
    if (!req.conn.finish(req)) return;
    // The hot path: no closure and no result object per call (one box, refilled).
    const mark = conn.beginMessage();
    const start = conn.writer.pos;
    const box = this.resultBox;
    box.success = value;
    try {
      this.writeReplyHead(conn.writer, req.tag, req.legacy, req.method, MessageType.REPLY, req.seqid);
      this.protocol.writeStruct(conn.writer, req.desc.result, box);
    } catch (err) {
      conn.abortMessage(mark);
      throw err;
    } finally {
      box.success = undefined;
    }
    this.endReply(conn, req.conn, mark, start, req.tag, req.legacy);
  }

  isDeclared(req: ThriftMuxServerRequest, err: unknown): boolean {
    return this.thrift.isDeclared(asThrift(req), err);
  }

  writeDeclared(conn: Connection, req: ThriftMuxServerRequest, err: unknown): void {
    if (req instanceof ThriftServerRequest) return this.plain(conn, req, (out) => this.thrift.writeDeclared(out, req, err));
    if (!req.conn.finish(req)) return;
    // The Thrift codec knows which result field the exception goes in: let it write the message into our scratch.
    const field = req.desc.result.fields.find((f) => f.id !== 0 && f.type.kind === 'struct' && f.type.struct().name === (err as { thriftName?: unknown }).thriftName);
    if (field === undefined) throw new ProtocolError(`not a declared exception of ${req.method}`);
    this.writeThrift(conn, req.conn, req.tag, req.legacy, req.method, MessageType.REPLY, req.seqid, (w) => this.protocol.writeStruct(w, req.desc.result, { [field.name]: err }));
  }

  writeError(conn: Connection, req: ThriftMuxServerRequest, kind: ServerErrorKind, message: string): void {
    if (req instanceof ThriftServerRequest) return this.plain(conn, req, (out) => this.thrift.writeError(out, req, kind, message));
    if (!req.conn.finish(req)) return;
    this.writeThrift(conn, req.conn, req.tag, req.legacy, req.method, MessageType.EXCEPTION, req.seqid, (w) =>
      encodeApplicationException(this.protocol, w, TApplicationExceptionType.INTERNAL_ERROR, message),
    );
  }

  writeOverloaded(conn: Connection, req: ThriftMuxServerRequest, message: string): void {
    if (req instanceof ThriftServerRequest) return this.plain(conn, req, (out) => this.thrift.writeOverloaded(out, req, message));
    if (!req.conn.finish(req)) return;
    this.writeNack(conn, req.tag, req.legacy);
  }

  private writeNack(conn: Connection, tag: number, legacy: boolean): void {
    const mark = conn.beginMessage();
    const w = conn.writer;
    writeHeaderBytes(w, legacy ? MuxType.Rreq : MuxType.Rdispatch, tag);
    w.writeU8(ReplyStatus.NACK);
    if (!legacy) w.writeI16(0); // no contexts; a NACK has an empty body
    conn.endMessage(mark);
  }

  /**
   * Starts draining a Mux session: Tdrain (once), new calls NACKed from now on; resolves when the
   * client answers Rdrain. Undefined for a session that is not Mux (nothing to wait for).
   */
  startDrain(conn: Connection): Promise<void> | undefined {
    const st = this.conns.get(conn);
    if (st?.kind !== 'mux' || conn.closing) return undefined;
    return st.startDrain();
  }

  writeUnknown(conn: Connection, call: UnknownMethod): void {
    if (typeof call.tag === 'number') return this.plain(conn, call, (out) => this.thrift.writeUnknown(out, call));
    const u = call.tag as UnknownCall;
    if (!u.conn.finish(u)) return;
    this.writeThrift(conn, u.conn, u.tag, u.legacy, call.name, MessageType.EXCEPTION, u.seqid, (w) =>
      encodeApplicationException(this.protocol, w, TApplicationExceptionType.UNKNOWN_METHOD, `Unknown method ${call.name}`),
    );
  }

  /** The session's own drain notice: Tdrain, unless startDrain already sent it. */
  writeDrain(conn: Connection): void {
    const st = this.conns.get(conn);
    if (st?.kind === 'mux' && !st.draining) void st.startDrain();
  }

  /** `Rdispatch OK` (or `Rreq OK`) carrying one Thrift message; fragmented to the peer's `mux-framer`. */
  private writeThrift(conn: Connection, st: MuxServerConn, tag: number, legacy: boolean, name: string, type: MessageType, seqid: number, body: (w: BufferWriter) => void): void {
    const mark = conn.beginMessage();
    const start = conn.writer.pos;
    try {
      this.writeReplyHead(conn.writer, tag, legacy, name, type, seqid);
      body(conn.writer);
    } catch (err) {
      conn.abortMessage(mark);
      throw err;
    }
    this.endReply(conn, st, mark, start, tag, legacy);
  }

  /** The Mux header, status OK, no contexts, then the Thrift message header. */
  private writeReplyHead(w: BufferWriter, tag: number, legacy: boolean, name: string, type: MessageType, seqid: number): void {
    // One capacity check and plain stores for the 5 or 7 bytes (they were 4 or 5 writer calls).
    w.ensure(7);
    const b = w.buf;
    const p = w.pos;
    b[p] = (legacy ? MuxType.Rreq : MuxType.Rdispatch) & 0xff;
    b[p + 1] = (tag >>> 16) & 0xff;
    b[p + 2] = (tag >>> 8) & 0xff;
    b[p + 3] = tag & 0xff;
    b[p + 4] = ReplyStatus.OK;
    if (legacy) w.pos = p + 5;
    else {
      b[p + 5] = 0; // no contexts
      b[p + 6] = 0;
      w.pos = p + 7;
    }
    this.protocol.writeMessageHeader(w, name, type, seqid);
  }

  /** Ends the answer begun at `mark` (its Mux header at `start`), or sends it in fragments when it is larger than the peer's `mux-framer`. */
  private endReply(conn: Connection, st: MuxServerConn, mark: number, start: number, tag: number, legacy: boolean): void {
    const w = conn.writer;
    if (w.pos - start <= st.peerMaxFrame) return conn.endMessage(mark);
    const rest = Buffer.from(w.buf.subarray(start + HEADER_BYTES, w.pos));
    conn.abortMessage(mark);
    st.fragments.send(legacy ? MuxType.Rreq : MuxType.Rdispatch, tag, rest);
  }
}

function noop(): void {}

function writeHeaderBytes(w: BufferWriter, code: number, tag: number): void {
  w.writeI8(code);
  w.writeU8((tag >>> 16) & 0xff);
  w.writeU8((tag >>> 8) & 0xff);
  w.writeU8(tag & 0xff);
}

/** isDeclared reads only the method descriptor: a Mux request answers to it like a Thrift one. */
function asThrift(req: ThriftMuxServerRequest): ThriftServerRequest {
  return req instanceof ThriftServerRequest ? req : new ThriftServerRequest(req.desc, req.seqid, req.args, false);
}
