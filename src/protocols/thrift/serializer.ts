import { BufferReader, BufferUnderflow, BufferWriter } from '../../core/bytes.js';
import { ProtocolError, type ScalesError } from '../../core/errors.js';
import { ForwardingService } from '../../core/filter.js';
import type { CallContext, ReplyHandler, Service } from '../../core/service.js';
import { layer, type StackLayer } from '../../core/stack.js';
import { decodeApplicationException, TApplicationExceptionType, ThriftApplicationError } from './application-exception.js';
import { MessageType, type MethodDesc } from './descriptors.js';
import type { ThriftCall, ThriftReply, ThriftRequest } from './messages.js';
import type { ThriftProtocol } from './protocol.js';

/**
 * Client side: encodes the call's argument struct, and turns the reply into the method's result,
 * its declared exception (thrown as the user's type) or a ThriftApplicationError.
 */
class ThriftSerializer extends ForwardingService<ThriftCall, unknown, ThriftRequest, ThriftReply> {
  private readonly scratch = new BufferWriter(4096);
  private readonly reader = new BufferReader(Buffer.alloc(0));

  constructor(
    private readonly protocol: ThriftProtocol,
    below: Service<ThriftRequest, ThriftReply>,
  ) {
    super(below);
  }

  dispatch(c: ThriftCall, ctx: CallContext, handler: ReplyHandler<unknown>): void {
    const method = c.method;
    let body: Buffer;
    try {
      this.protocol.writeStruct(this.scratch, method.args, c.args);
      body = this.scratch.takeCopy();
    } catch (err) {
      this.scratch.reset();
      return handler.onError(err);
    }
    this.down.dispatch({ name: method.name, oneway: method.oneway, body }, ctx, new DecodeHandler(this, method, handler));
  }

  /** @internal The method's result, or throws its declared exception / the error. */
  decode(method: MethodDesc, reply: ThriftReply): unknown {
    const r = this.reader;
    r.buf = reply.message;
    r.pos = reply.offset;
    r.end = reply.message.length;
    let result: Record<string, unknown>;
    try {
      if (reply.type === MessageType.EXCEPTION) throw decodeApplicationException(this.protocol, r);
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

/**
 * A decoded `<method>_result` struct as the caller sees it: the success value, or its declared
 * exception thrown, or undefined for void (shared with ThriftMux, which carries the same struct).
 */
export function resultOf(method: MethodDesc, result: Record<string, unknown>): unknown {
  const fields = method.result.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const v = result[f.name];
    if (v === undefined || v === null) continue;
    if (f.id === 0) return v;
    throw v; // a declared exception: an instance of the user's exception type
  }
  if (fields.length > 0 && fields[0]!.id === 0) {
    throw new ThriftApplicationError(TApplicationExceptionType.MISSING_RESULT, `${method.name} failed: unknown result`);
  }
  return undefined; // void
}

/** Turns one raw reply into the method's result (or its exception) for the handler above. */
class DecodeHandler implements ReplyHandler<ThriftReply> {
  constructor(
    private readonly serializer: ThriftSerializer,
    private readonly method: MethodDesc,
    private readonly next: ReplyHandler<unknown>,
  ) {}

  onReply(reply: ThriftReply, at?: number): void {
    if (this.method.oneway) return this.next.onReply(undefined, at);
    let result: unknown;
    try {
      result = this.serializer.decode(this.method, reply);
    } catch (err) {
      return this.next.onError(err, at);
    }
    this.next.onReply(result, at);
  }

  onError(err: unknown, at?: number): void {
    this.next.onError(err, at);
  }
}

const EMPTY = Buffer.alloc(0);

export function asProtocolError(err: unknown, context: string): ScalesError {
  if (err instanceof BufferUnderflow) return new ProtocolError(`${context}: message truncated`);
  if (err instanceof ProtocolError) return err;
  return new ProtocolError(`${context}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

export function serializerLayer(protocol: ThriftProtocol): StackLayer {
  return layer('serializer', `encodes arguments and decodes results (Thrift ${protocol.name})`, (below: Service<ThriftRequest, ThriftReply>) => new ThriftSerializer(protocol, below), {
    needs: 'service<wire>',
    gives: 'service<call>',
  });
}
