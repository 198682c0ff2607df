/**
 * ThriftMux client serializer: one Thrift message (CALL, seqid 0: the Mux tag matches replies)
 * after the call's Mux contexts makes the Tdispatch body; the reply is one Thrift message in
 * `Rdispatch OK`: REPLY (the result or a declared exception) or EXCEPTION (TApplicationException).
 *
 * The Retries context counts this call's failed attempts: an attempt's error bumps it on the
 * call's context on its way up to the retries role, so a first attempt pays nothing for it.
 */
import { BufferReader, BufferUnderflow, BufferWriter } from '../../core/bytes.js';
import { InvalidArgumentError, ProtocolError, type ScalesError } from '../../core/errors.js';
import { ForwardingService } from '../../core/filter.js';
import type { CallContext, ReplyHandler, Service } from '../../core/service.js';
import { layer, type StackLayer } from '../../core/stack.js';
import { MuxRetries } from '../mux/contexts.js';
import { writeDispatchHead } from '../mux/dispatch-head.js';
import type { MuxReply, MuxRequest } from '../mux/request.js';
import { decodeApplicationException, ThriftApplicationError } from '../thrift/application-exception.js';
import { MessageType, type MethodDesc } from '../thrift/descriptors.js';
import { replyName } from '../thrift/known-names.js';
import type { ThriftCall } from '../thrift/messages.js';
import type { ThriftProtocol } from '../thrift/protocol.js';
import { resultOf } from '../thrift/serializer.js';

const EMPTY = Buffer.alloc(0);
/** Bodies up to this size are lent through a view kept per length (see `lend`). */
const MAX_KEPT_VIEW = 2048;

class ThriftMuxSerializer extends ForwardingService<ThriftCall, unknown, MuxRequest, MuxReply> {
  private readonly scratch = new BufferWriter(4096);
  private readonly reader = new BufferReader(EMPTY);
  /** A call is being encoded or dispatched from `scratch` (a nested dispatch, e.g. a retry made in an error handler, must not write over it). */
  private lending = false;
  /** Views of `scratch.buf` by length, each made once (a view costs ~50 ns and 72 B): see `lend`. */
  private views: (Buffer | undefined)[] = new Array(MAX_KEPT_VIEW + 1);
  /** The buffer `views` are of (the scratch writer replaces it when it grows). */
  private viewsOf: Buffer = EMPTY;

  constructor(
    private readonly protocol: ThriftProtocol,
    private readonly clientId: Buffer | undefined,
    below: Service<MuxRequest, MuxReply>,
  ) {
    super(below);
  }

  dispatch(c: ThriftCall, ctx: CallContext, handler: ReplyHandler<unknown>): void {
    const method = c.method;
    if (method.oneway) return handler.onError(new InvalidArgumentError(`${method.name} is oneway: ThriftMux carries no oneway calls (as Finagle's client refuses them)`));
    const nested = this.lending;
    const w = nested ? new BufferWriter(256) : this.scratch;
    try {
      writeDispatchHead(w, ctx, this.clientId);
      this.protocol.writeMessageHeader(w, method.name, MessageType.CALL, 0);
      this.protocol.writeStruct(w, method.args, c.args);
    } catch (err) {
      w.reset();
      return handler.onError(err);
    }
    if (nested) {
      const owned = new ThriftMuxCall(this, method, ctx, handler, w.view());
      return this.down.dispatch(owned, ctx, owned);
    }
    // The body is lent to the session, which copies it into the connection's batch as it
    // writes the call, nearly always before dispatch returns: no Buffer of its own per call.
    const call = new ThriftMuxCall(this, method, ctx, handler, this.lend(w));
    this.lending = true;
    try {
      this.down.dispatch(call, ctx, call);
    } finally {
      if (call.written !== true) call.body = Buffer.from(call.body); // it waits (a pool's queue): its own bytes
      w.reset();
      this.lending = false;
    }
  }

  /**
   * `scratch`'s bytes as a view for the synchronous dispatch: the same view object for every
   * body of one length (it is only read while lent; a call that waits gets a copy).
   */
  private lend(w: BufferWriter): Buffer {
    const n = w.pos;
    if (n > MAX_KEPT_VIEW) return w.view();
    if (this.viewsOf !== w.buf) {
      this.views = new Array(MAX_KEPT_VIEW + 1);
      this.viewsOf = w.buf;
    }
    let v = this.views[n];
    if (v === undefined) this.views[n] = v = w.buf.subarray(0, n);
    return v;
  }

  /** @internal The method's result, or throws its declared exception / the error. */
  decode(method: MethodDesc, reply: MuxReply): unknown {
    const r = this.reader;
    r.buf = reply.message;
    r.pos = reply.offset;
    r.end = reply.end;
    let result: Record<string, unknown>;
    try {
      const { name, type } = this.protocol.readMessageHeader(r, replyName(method));
      if (name !== method.name) throw new ProtocolError(`reply names method '${name}' but the call was '${method.name}'`);
      if (type === MessageType.EXCEPTION) throw decodeApplicationException(this.protocol, r);
      if (type !== MessageType.REPLY) throw new ProtocolError(`unexpected Thrift message type ${type} in a reply`);
      result = this.protocol.readStruct(r, method.result) as Record<string, unknown>;
    } catch (err) {
      if (err instanceof ThriftApplicationError) throw err;
      throw asProtocolError(err, `malformed reply to ${method.name}`);
    } finally {
      r.buf = EMPTY; // do not pin the frame
    }
    return resultOf(method, result);
  }
}

/** One attempt of a call: the request the session writes, and the handler of its reply (one object). */
class ThriftMuxCall implements MuxRequest, ReplyHandler<MuxReply> {
  readonly name: string;
  written: boolean | undefined = undefined;

  constructor(
    private readonly serializer: ThriftMuxSerializer,
    private readonly method: MethodDesc,
    private readonly ctx: CallContext,
    private readonly next: ReplyHandler<unknown>,
    public body: Buffer,
  ) {
    this.name = method.name;
  }

  onReply(reply: MuxReply, at?: number): void {
    let result: unknown;
    try {
      result = this.serializer.decode(this.method, reply);
    } catch (err) {
      return this.next.onError(err, at);
    }
    this.next.onReply(result, at);
  }

  onError(err: unknown, at?: number): void {
    const ctx = this.ctx;
    if (ctx.cancelled === undefined) ctx.set(MuxRetries, ctx.get(MuxRetries) + 1); // the next attempt, if any, is a retry
    this.next.onError(err, at);
  }
}

function asProtocolError(err: unknown, context: string): ScalesError {
  if (err instanceof BufferUnderflow) return new ProtocolError(`${context}: message truncated`);
  if (err instanceof ProtocolError) return err;
  return new ProtocolError(`${context}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

export function thriftMuxSerializerLayer(protocol: ThriftProtocol, clientId: string | undefined): StackLayer {
  const id = clientId === undefined ? undefined : Buffer.from(clientId, 'utf8');
  return layer(
    'serializer',
    `encodes arguments and decodes results (Thrift ${protocol.name} in Tdispatch, with mux contexts)`,
    (below: Service<MuxRequest, MuxReply>) => new ThriftMuxSerializer(protocol, id, below),
    { needs: 'service<wire>', gives: 'service<call>' },
  );
}
