import { BufferReader, BufferUnderflow } from '../../core/bytes.js';
import { FrameTooLargeError } from '../../core/errors.js';
import type { Framing } from '../../transport/index.js';
import { HEADER_MAGIC_HI, HEADER_MAGIC_LO } from './header.js';
import type { ThriftProtocol } from './protocol.js';

/**
 * `framed`: TFramedTransport (u32 length prefix). `buffered`: TBufferedTransport (no framing).
 * `header`: THeader (framed, a header with info key/values before each message; client only: a
 * server answers THeader on either of the others, see docs/thrift.md).
 */
export type ThriftTransportKind = 'framed' | 'buffered' | 'header';

const UNDERFLOW = new BufferUnderflow();

/**
 * Unframed Thrift has no length on the wire: a message ends where its struct ends, so the
 * boundary is found by skipping one header + struct with the codec. BufferUnderflow from the
 * skip means "not all here yet" and the connection waits for more bytes.
 *
 * A THeader frame (u32 length, then the 0x0FFF magic) is told apart by its first bytes: a strict
 * binary message starts with 0x80, a compact one with 0x82, and an old non-strict binary one with
 * a name length, whose name would have to start with the bytes 0x0F 0xFF (not UTF-8). Its length
 * is checked against `maxFrameSize` at once: a client is never left waiting for bytes it already sent.
 */
export function thriftFraming(kind: ThriftTransportKind, protocol: ThriftProtocol, maxFrameSize = Infinity): Framing {
  if (kind !== 'buffered') return { kind: 'length-prefixed' };
  const reader = new BufferReader(Buffer.alloc(0));
  return {
    kind: 'measured',
    measure(buf: Buffer, start: number, end: number): number {
      if (buf[start] === 0) {
        if (end - start < 6) throw UNDERFLOW;
        if (buf[start + 4] === HEADER_MAGIC_HI && buf[start + 5] === HEADER_MAGIC_LO) {
          const len = buf.readUInt32BE(start);
          if (len > maxFrameSize) throw new FrameTooLargeError(len, maxFrameSize);
          if (end - start < 4 + len) throw UNDERFLOW;
          return 4 + len;
        }
      }
      reader.buf = buf;
      reader.pos = start;
      reader.end = end;
      protocol.readMessageHeader(reader);
      protocol.skipStruct(reader);
      return reader.pos - start;
    },
  };
}
