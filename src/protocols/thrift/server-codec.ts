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
 */
import { BufferReader, BufferUnderflow } from '../../core/bytes.js';
import { ProtocolError } from '../../core/errors.js';
import { MAX_ECHOED_NAME, UnknownMethod, type ServerCodec, type ServerErrorKind, type ServerRequest } from '../../server/codec.js';
import { describeError, isInstance, truncate } from '../../server/safe.js';
import type { Connection } from '../../transport/index.js';
import { encodeApplicationException, TApplicationExceptionType, ThriftApplicationError } from './application-exception.js';
import { MessageType, ThriftException, type MethodDesc, type ServiceDesc } from './descriptors.js';
import type { ThriftProtocol } from './protocol.js';

/** Message prefix of an overload rejection: the request was not run, another server may take it. */
export const OVERLOADED_PREFIX = 'Overloaded: ';

/** True for the answer of a Scales server that shed the call (safe to send elsewhere). */
export function isOverloadRejection(err: unknown): boolean {
  return err instanceof ThriftApplicationError && err.type === TApplicationExceptionType.INTERNAL_ERROR && err.message.startsWith(OVERLOADED_PREFIX);
}

export class ThriftServerRequest implements ServerRequest {
  readonly method: string;
  readonly deadline = undefined;
  readonly values = undefined;

  constructor(
    readonly desc: MethodDesc,
    readonly seqid: number,
    readonly args: unknown[],
    readonly oneway: boolean,
  ) {
    this.method = desc.name;
  }
}

const EMPTY = Buffer.alloc(0);

export class ThriftServerCodec implements ServerCodec<Buffer, Connection, ThriftServerRequest> {
  private readonly reader = new BufferReader(EMPTY);

  constructor(
    private readonly protocol: ThriftProtocol,
    private readonly service: ServiceDesc,
  ) {}

  decode(message: Buffer): ThriftServerRequest | UnknownMethod<number> {
    const r = this.reader;
    r.buf = message;
    r.pos = 0;
    r.end = message.length;
    try {
      const { name, type, seqid } = this.protocol.readMessageHeader(r);
      if (type !== MessageType.CALL && type !== MessageType.ONEWAY) {
        throw new ProtocolError(`expected a CALL or ONEWAY message, got type ${type}`);
      }
      const method = Object.hasOwn(this.service.methods, name) ? this.service.methods[name] : undefined;
      if (method === undefined) {
        this.protocol.skipStruct(r);
        return new UnknownMethod(truncate(name, MAX_ECHOED_NAME), seqid, type === MessageType.ONEWAY);
      }
      // ONEWAY naming a two-way method would run it unanswered, outside what the client expects
      // (and before issue 9, outside the concurrency cap). The peer disagrees with our IDL: its
      // seqids cannot be trusted, so this connection ends. A CALL naming a oneway method is
      // served as oneway (some clients send CALL for everything).
      if (type === MessageType.ONEWAY && !method.oneway) {
        throw new ProtocolError(`ONEWAY message for two-way method '${method.name}'`);
      }
      const fields = this.protocol.readStruct(r, method.args) as Record<string, unknown>;
      const params = method.params;
      const args: unknown[] = new Array(params.length + 1);
      for (let i = 0; i < params.length; i++) args[i] = fields[params[i]!];
      return new ThriftServerRequest(method, seqid, args, method.oneway);
    } catch (err) {
      if (err instanceof BufferUnderflow) throw new ProtocolError('truncated call message');
      if (err instanceof ProtocolError) throw err;
      throw new ProtocolError(`bad call message: ${describeError(err)}`, { cause: err });
    } finally {
      r.buf = EMPTY; // do not pin the frame
    }
  }

  writeReply(conn: Connection, req: ThriftServerRequest, value: unknown): void {
    const mark = conn.beginMessage();
    try {
      this.protocol.writeMessageHeader(conn.writer, req.method, MessageType.REPLY, req.seqid);
      this.protocol.writeStruct(conn.writer, req.desc.result, { success: value });
    } catch (err) {
      conn.abortMessage(mark);
      throw err;
    }
    conn.endMessage(mark);
  }

  isDeclared(req: ThriftServerRequest, err: unknown): boolean {
    return declaredField(req.desc, err) !== undefined;
  }

  writeDeclared(conn: Connection, req: ThriftServerRequest, err: unknown): void {
    const field = declaredField(req.desc, err);
    if (field === undefined) throw new ProtocolError(`not a declared exception of ${req.method}`);
    const mark = conn.beginMessage();
    try {
      this.protocol.writeMessageHeader(conn.writer, req.method, MessageType.REPLY, req.seqid);
      this.protocol.writeStruct(conn.writer, req.desc.result, { [field]: err });
    } catch (e) {
      conn.abortMessage(mark);
      throw e;
    }
    conn.endMessage(mark);
  }

  writeError(conn: Connection, req: ThriftServerRequest, _kind: ServerErrorKind, message: string): void {
    this.writeException(conn, req.method, req.seqid, TApplicationExceptionType.INTERNAL_ERROR, message);
  }

  writeOverloaded(conn: Connection, req: ThriftServerRequest, message: string): void {
    this.writeException(conn, req.method, req.seqid, TApplicationExceptionType.INTERNAL_ERROR, OVERLOADED_PREFIX + message);
  }

  writeUnknown(conn: Connection, call: UnknownMethod): void {
    // The name goes back once, truncated, in the header (clients match replies on it); a hostile
    // 16 MiB name costs a reply of a few hundred bytes, not two copies of itself.
    this.writeException(conn, call.name, call.tag as number, TApplicationExceptionType.UNKNOWN_METHOD, 'Unknown method');
  }

  private writeException(conn: Connection, name: string, seqid: number, type: number, message: string): void {
    const mark = conn.beginMessage();
    try {
      this.protocol.writeMessageHeader(conn.writer, name, MessageType.EXCEPTION, seqid);
      encodeApplicationException(this.protocol, conn.writer, type, message);
    } catch (err) {
      conn.abortMessage(mark);
      throw err;
    }
    conn.endMessage(mark);
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
