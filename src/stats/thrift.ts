import { MessageType } from '../protocols/thrift/descriptors.js';
import type { ThriftReply } from '../protocols/thrift/messages.js';

/**
 * `replyFailure` for a stats layer below the Thrift serializer (per node): an EXCEPTION message
 * (TApplicationException) is an APPLICATION failure; a REPLY is a success. A declared exception
 * travels inside a REPLY, so it counts as a plain success there (the client-level layer above the
 * serializer is the one that sees USER_EXCEPTION).
 */
export function thriftReplyFailure(rep: ThriftReply): string | undefined {
  return rep.type === MessageType.EXCEPTION ? 'APPLICATION' : undefined;
}
