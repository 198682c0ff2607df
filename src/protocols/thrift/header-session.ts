/**
 * The client side of THeader (`transport: 'header'`): each call goes in a THeader frame whose info
 * headers carry the call's deadline and context values (header-context.ts); a reply is read from
 * the THeader frame around it (a plain framed reply is accepted too).
 */
import { ProtocolError } from '../../core/errors.js';
import type { CallContext, ReplyHandler } from '../../core/service.js';
import { MultiplexedSession } from '../../session/multiplexed.js';
import type { SessionControl } from '../../session/codec.js';
import type { Connection } from '../../transport/index.js';
import { MessageType } from './descriptors.js';
import { HeaderProtocolId, type HeaderLimits, isHeaderMagic, readHeaderFrame, writeHeaderFrame } from './header.js';
import { headersForCall } from './header-context.js';
import { SERVICE_SEPARATOR } from './multiplexed.js';
import type { ThriftReply, ThriftRequest } from './messages.js';
import type { ThriftProtocol } from './protocol.js';
import type { ThriftSessionOptions } from './session.js';
import { ThriftSessionCodec } from './session-codec.js';

/** A call with the info headers it carries. */
interface HeaderRequest extends ThriftRequest {
  readonly headers: [Buffer, Buffer][] | undefined;
}

class HeaderSessionCodec extends ThriftSessionCodec {
  private readonly protocolId: number;

  constructor(
    protocol: ThriftProtocol,
    prefix: string | undefined,
    private readonly limits: HeaderLimits,
  ) {
    super(protocol, prefix);
    this.protocolId = protocol.name === 'compact' ? HeaderProtocolId.COMPACT : HeaderProtocolId.BINARY;
  }

  override write(conn: Connection, req: ThriftRequest, seqid: number): void {
    const mark = conn.beginMessage();
    try {
      const head = { protocolId: this.protocolId, flags: 0, seqid, transforms: [], headers: (req as HeaderRequest).headers };
      const name = this.prefix === undefined ? req.name : this.prefix + req.name;
      writeHeaderFrame(conn.writer, head, false, (w) => {
        this.protocol.writeMessageHeader(w, name, req.oneway ? MessageType.ONEWAY : MessageType.CALL, seqid);
        w.writeBytes(req.body);
      });
    } catch (err) {
      conn.abortMessage(mark);
      throw err;
    }
    conn.endMessage(mark);
  }

  override read(message: Buffer, s: SessionControl<ThriftRequest, ThriftReply>): void {
    if (message.length < 2 || !isHeaderMagic(message, 0)) return this.readAt(message, 0, s);
    let payload: Buffer;
    let offset: number;
    try {
      const frame = readHeaderFrame(message, 0, message.length, this.limits);
      if (frame.protocolId !== this.protocolId) throw new ProtocolError(`THeader reply in protocol ${frame.protocolId}, the call was sent in ${this.protocolId}`);
      payload = frame.payload;
      offset = frame.offset;
    } catch (err) {
      return s.violation(`bad THeader reply: ${(err as Error).message}`, err);
    }
    this.readAt(payload, offset, s);
  }
}

/** A Thrift session whose calls carry THeader info headers from their call context. */
export class HeaderThriftSession extends MultiplexedSession<ThriftRequest, ThriftReply> {
  constructor(conn: Connection, protocol: ThriftProtocol, limits: HeaderLimits, options: ThriftSessionOptions = {}) {
    super(conn, new HeaderSessionCodec(protocol, options.serviceName === undefined ? undefined : options.serviceName + SERVICE_SEPARATOR, limits), options);
  }

  override dispatch(req: ThriftRequest, ctx: CallContext, handler: ReplyHandler<ThriftReply>): void {
    const withHeaders: HeaderRequest = { name: req.name, oneway: req.oneway, body: req.body, headers: headersForCall(ctx) };
    super.dispatch(withHeaders, ctx, handler);
  }
}
