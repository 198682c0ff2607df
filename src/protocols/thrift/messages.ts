import type { MessageType, MethodDesc } from './descriptors.js';

/** What the proxy hands the client stack: a method and its arguments object. */
export interface ThriftCall {
  readonly method: MethodDesc;
  readonly args: Record<string, unknown>;
}

/** Below the serializer: a method name and its encoded argument struct. */
export interface ThriftRequest {
  readonly name: string;
  readonly oneway: boolean;
  /** The encoded `<method>_args` struct (no message header: the session writes it with its seqid). */
  readonly body: Buffer;
}

/** A reply message as read off the wire; the body starts at `offset` in `message`. */
export interface ThriftReply {
  readonly type: MessageType;
  readonly message: Buffer;
  readonly offset: number;
}
