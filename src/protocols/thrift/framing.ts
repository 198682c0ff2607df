import { BufferReader } from '../../core/bytes.js';
import type { Framing } from '../../transport/index.js';
import type { ThriftProtocol } from './protocol.js';

/** `framed`: TFramedTransport (u32 length prefix). `buffered`: TBufferedTransport (no framing). */
export type ThriftTransportKind = 'framed' | 'buffered';

/**
 * Unframed Thrift has no length on the wire: a message ends where its struct ends, so the
 * boundary is found by skipping one header + struct with the codec. BufferUnderflow from the
 * skip means "not all here yet" and the connection waits for more bytes.
 */
export function thriftFraming(kind: ThriftTransportKind, protocol: ThriftProtocol): Framing {
  if (kind === 'framed') return { kind: 'length-prefixed' };
  const reader = new BufferReader(Buffer.alloc(0));
  return {
    kind: 'measured',
    measure(buf: Buffer, start: number, end: number): number {
      reader.buf = buf;
      reader.pos = start;
      reader.end = end;
      protocol.readMessageHeader(reader);
      protocol.skipStruct(reader);
      return reader.pos - start;
    },
  };
}
