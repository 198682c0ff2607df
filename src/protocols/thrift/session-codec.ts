import { BufferReader, BufferUnderflow } from '../../core/bytes.js';
import type { TagSpace } from '../../core/tags.js';
import type { MultiplexedCodec, SessionControl } from '../../session/codec.js';
import type { Connection } from '../../transport/index.js';
import { MessageType } from './descriptors.js';
import type { ThriftReply, ThriftRequest } from './messages.js';
import type { ThriftProtocol } from './protocol.js';

/** Seqids from 1 (0 is a oneway call's), the most recently freed first: the cheapest order. */
const THRIFT_TAGS: TagSpace = { first: 1, last: 0x7fffffff, order: 'recent' };

const ONEWAY_REPLY: ThriftReply = { type: MessageType.REPLY, message: Buffer.alloc(0), offset: 0 };

/**
 * Plain Thrift on a multiplexed session: the seqid is the tag, and a reply must also name the
 * method of the call holding its seqid, or the peer and we disagree about the stream.
 */
export class ThriftSessionCodec implements MultiplexedCodec<ThriftRequest, ThriftReply> {
  readonly tags = THRIFT_TAGS;
  private readonly reader = new BufferReader(Buffer.alloc(0));

  constructor(
    protected readonly protocol: ThriftProtocol,
    /** `Service:` for a multiplexed server (TMultiplexedProtocol), else undefined. */
    protected readonly prefix: string | undefined = undefined,
  ) {}

  oneway(req: ThriftRequest): ThriftReply | undefined {
    return req.oneway ? ONEWAY_REPLY : undefined;
  }

  write(conn: Connection, req: ThriftRequest, seqid: number): void {
    const mark = conn.beginMessage();
    try {
      this.writePrefix(conn, req);
      this.protocol.writeMessageHeader(conn.writer, this.prefix === undefined ? req.name : this.prefix + req.name, req.oneway ? MessageType.ONEWAY : MessageType.CALL, seqid);
      conn.writer.writeBytes(req.body);
    } catch (err) {
      conn.abortMessage(mark);
      throw err;
    }
    conn.endMessage(mark);
  }

  /** What goes in front of the message header (nothing; TTwitter: its request header). */
  protected writePrefix(_conn: Connection, _req: ThriftRequest): void {}

  read(message: Buffer, s: SessionControl<ThriftRequest, ThriftReply>): void {
    this.readAt(message, 0, s);
  }

  /** Reads the reply message starting at `offset` (a THeader reply's payload starts after its header). */
  protected readAt(message: Buffer, offset: number, s: SessionControl<ThriftRequest, ThriftReply>): void {
    const r = this.reader;
    r.buf = message;
    r.pos = offset;
    r.end = message.length;
    let name: string;
    let type: MessageType;
    let seqid: number;
    try {
      ({ name, type, seqid } = this.protocol.readMessageHeader(r));
    } catch (err) {
      return s.violation(err instanceof BufferUnderflow ? 'truncated reply header' : `bad reply header: ${(err as Error).message}`, err);
    }
    const req = s.request(seqid);
    if (req === undefined) return s.violation(`reply for seqid ${seqid} (${name}) that no call is waiting for`);
    // A multiplexed server answers under the plain name (Apache's processors do); the prefixed one is accepted too.
    if (req.name !== name && (this.prefix === undefined || name !== this.prefix + req.name)) return s.violation(`reply for seqid ${seqid} names method '${name}' but the call was '${req.name}'`);
    if (type !== MessageType.REPLY && type !== MessageType.EXCEPTION) return s.violation(`unexpected message type ${type} for seqid ${seqid}`);
    s.reply(seqid, { type, message, offset: r.pos });
  }
}
