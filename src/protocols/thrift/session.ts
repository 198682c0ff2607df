import { MultiplexedSession } from '../../session/multiplexed.js';
import type { SessionOptions } from '../../session/base.js';
import type { Connection } from '../../transport/index.js';
import type { ThriftReply, ThriftRequest } from './messages.js';
import { SERVICE_SEPARATOR } from './multiplexed.js';
import type { ThriftProtocol } from './protocol.js';
import { ThriftSessionCodec } from './session-codec.js';

export interface ThriftSessionOptions extends SessionOptions {
  /** The name a multiplexed server registered the service under: calls go as `serviceName:method`. */
  serviceName?: string;
}

/**
 * One Thrift connection carrying many calls at once (pipelining), matched by seqid: a
 * MultiplexedSession (tags, pending calls, the abandoned-call guard, limits) with the Thrift codec
 * (a reply is delivered only to the pending call with the same seqid AND method name).
 */
export class ThriftSession extends MultiplexedSession<ThriftRequest, ThriftReply> {
  constructor(conn: Connection, protocol: ThriftProtocol, options: ThriftSessionOptions = {}) {
    super(conn, new ThriftSessionCodec(protocol, options.serviceName === undefined ? undefined : options.serviceName + SERVICE_SEPARATOR), options);
  }
}
